from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "dashboard_links" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "send_key" VARCHAR(255) NOT NULL,
    "url_key" VARCHAR(32) NOT NULL /* blake2b-128 of the whole URL, hex */,
    "url" VARCHAR(1024) NOT NULL /* the URL, cut to 1024 characters */,
    "kind" VARCHAR(24) NOT NULL,
    "n" BIGINT NOT NULL,
    CONSTRAINT "uid_dashboard_l_domain_4646e1" UNIQUE ("domain", "send_key", "url_key", "kind")
) /* Clicks on one link of one send: ``kind`` is ``clicked``, ``clicked_human`` (no bot flag), */;
CREATE INDEX IF NOT EXISTS "idx_dashboard_l_domain_41d0ac" ON "dashboard_links" ("domain", "send_key", "kind", "n");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "dashboard_links";"""


MODELS_STATE = (
    "eJztWm1v2zYQ/isHfUoAJ3CcZMnST12wvgxFCqTZvrSFQklni7NMaiIVxyj633dHWZH8Wt"
    "mYU2XwN4nkSeQ9vLvnofTNi4SJAy2y6Pha58p6V/DNU2KEdLHQ1wFPpOlMD7dZESSz4/2Q"
    "xxtnEBibiZAf3BeJQWqK0ISZTK3Uiq3e6TGMhJoAPiAZge6DVghDqSLoY5KAVFa7JpPIEK"
    "9AQKRHQqoOGFRRB9JMP8gIM9AZWDHoQDCBWOcZvz7SIb1fqsFO3/RFCXqEGNBQborEBA7Y"
    "woDIEJS2YNJEWu6zckQPtjHKDII8HKIFaaB7eMyzzZX8J0ff6gHSiIzm/PmzV0zBLYZslW"
    "G30c2DSHLki+IpfMUL8b5+pSu6wEc0/AC+TYd+X2ISzaArHXiu3beT1LX9JgfvlX3jxvIL"
    "A0IyyUeqGp9ObKzVk4EstsUAFWbCIr/BZjmjrPIkmW6MEvhiedWQYpY1mwj7Ik94r7B1MY"
    "GqzfP9m493/qff73zfW9hHpUUN8GlTqBXvQck7kh0w4Ckc/drrnZ5e9Lqnv1yen11cnF92"
    "L2msm+9i18X3YjKVt4pHOZ+9f/v+5o4npGmjF5HADd+djbCisHJg1GLrCdVZBK5jkS33f2"
    "UxhwEtbh6D0uPrQCgbKhSqAH0OGEbi0U9QDWxMt73z8zUu/uv17fW717cHNOpw1tE3065e"
    "0cc+r/m4Hi+N3Vw3arOnvbW5qUxNHb7nlEbJjnIK5SaZTLjBzKfHJjCd9BqgdNJbCRJ3zW"
    "L0lMaa4vNk0Gps2NWMCwxxsoDNK8BRaifQp9tadm9DyFTFpHlhqGx+XBx+IiTGisyWYcCh"
    "AQfsfzE57ACmOowJMHJ4ZF5B10HjKnhDZJ6xplRguXq/QeiU41sdOeNYWBgLA45DYnQFES"
    "byATOkJKdTmmTkT+ewTdCcNYmZs9UhczYfMUuKy7pgWVZWdhgn3RdPopi/9oc1DsUNgQiH"
    "YxYaCz26p1eNXewa9UbzLUKJgfMlr7tgcKUIeiMzs0ogFX3NBVKfxzcUSHeUr9x4t/25ho"
    "QkT4alfMkwlKkkQUPypRAvlLeuwMXRSAzRQLFjioAq744X1NHuXrNE1syJlLrKEbbQMHvR"
    "0j7RIgdolrCDdWy6tPhvis4uQPBiCkve5rOEutrwLO7L2rlpwTltwphPVzPm0wXGvFeOu6"
    "fB7oDI3zTZ1K1aTYWdOrGaKFVxFEaUeEq6+mUda1dKqpARG4oT0X5hMiM+CoFCaDhg2oZE"
    "e8jYB6mG606sq/7mpCwhm4ac7JqpEYFVUCE2LHlSQYvu77lg3N/z4e79vSNSSLed6saPc1"
    "ofjThQGgJtoZ+IwWFngZbt7E1fVDWi2OI0hFjffGtljoL2aVUWtQoRUszcpA6PgQmkm580"
    "X9QQJ5RdggkIKMurJFY4jnWC8Ofth1dOhlt8tDDE1BaCO9ZjWjWvJCDoIoyanIqzG3x6nR"
    "uaJeXl0sPwVXZldVd76tlW6rlnPTtnPfWIaOrlus3ez838XMtSTd1cM2mzl70gEUPsBUcn"
    "vcvyqPUp5Xcgxsd2aChy54beb73n2dXOyWFOfF7DSbd3BiEtiXgMZtt97ek2Oi7lYau/+H"
    "QXj0z/j+fW2+aX/Xn0CyMp7ZFAn6j0esvVj+tqLnyevnT9WPh8nAoPOBCgcGwStJReruBt"
    "rA2JVqJcyZGMOoBk7dL/CI2hJYCMDkEYKD+MGpIKZMCU35AyWDyO3uWLmiqKdfLBnZT4xf"
    "GCjPa6Ya8bXkS92euGl+tnl/SWnkqv9nPdZis/T1NGO91MMqPRD0mXa/5IulzYznnwN4Yb"
    "feaqmTzfZva8DSVCP9MjVxeLz7y1o/9YRHykuI1I2MlOt2JgNvF/Ob7Fzv/j08cbR0U6UH"
    "5nIX6CW/36tSthVuc0zQlL3eplfWjhE+laLLTta0sdmkRsgUzN6OUBk9C82orMTxWB3/8F"
    "Mf7EVQ=="
)
