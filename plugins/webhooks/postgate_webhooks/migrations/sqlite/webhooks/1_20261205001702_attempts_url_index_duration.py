from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "webhooks_attempts" ADD "duration_ms" REAL /* milliseconds from the start of the POST to its answer or failure; none when no POST was made */;
        CREATE INDEX "idx_webhooks_at_url_33aa6c" ON "webhooks_attempts" ("url", "at", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_webhooks_at_url_33aa6c";
        ALTER TABLE "webhooks_attempts" DROP COLUMN "duration_ms";"""


MODELS_STATE = (
    "eJztW21v2zYQ/iuEPyWAWySy42TdpzRN22xZHCTuUKAoBFqibS0SqYpU3aDof98dKVkvtl"
    "LJc1wl86dUPJ5EPkfey3Pu986cjWdC3MmXp0qxIFSdV+R7h9OAwT+WhV3SoWGYF+GQomO/"
    "MN+mZr6W0rFUEXXwzRPqSwZDLpNO5IXKExzVhpyR6+HtiATUZWRPRCRik1gyl4zZRESMeI"
    "rMqdTi/S6BIaJmjIiQRVTBgy+mL/FLrnDgUx6fbvKlMfe+xMxWYspAHsGrP32GYY+77BuT"
    "+PgJPhxQj+vNqg5IPy3+xpGfDKOO2/mMuuGdPfGY7xawBiGI9Lit7kM99tqbXnD1Vs/F/Y"
    "1tR/hxwLP54b2aCb5Q8Lj+0JRx3AXDL6goRsh57PuJmVIrmJ1lU8yWcjoum9DYR8OhtllA"
    "Ntax7avhyL49H9l2Z8moqUbOJMmQIzgeCFiq1ABMcQkvfrOsXu/YOugNTo76x8dHJwcnMF"
    "evd1l0/MMsJkPLvEpjdvHu4mqECxJw6sy5xIEfWocqarS05TL0XeZ7X1l0bzc1Q0nx5/ZI"
    "0X/IIOlAZpHs5jwzk2QmMHekiPxbX9AK4M30Et4TnN8exDssFM6MSAYAu7LsolaD/wCOb4"
    "YfXl+ek+ub87OL24vhFb4wuJdf/EyIQzDgKQ3HzfnpZQnlzFUVkT6b0ajihC80SmDDqtsD"
    "df3DHdBvts/4VM3g0To6egDwv09vzt6f3uzBrP3i8b1KRJaRFTFOwmATkHMqzxDlnlUD5J"
    "5ViTGKihAncbUuvMn0ZwitddA/qXOCYVr1EdbCIsDsK+NqZTSsRjmv8wyhHvRrAD3oV8KM"
    "oiLIUlEVS0DQZcs4V6YcJa21Uo4kw3vs+McFZOHzGeOEC/J+NLomlMs5i4iDCDRJRqzD/n"
    "H/pDfoL3KQxchDqcdymiFi5YhgBd7V5zqn0uZjneaizO1CraOie/zzD3MUDkyo50Ptk5VB"
    "NdEv3IDDQY0bcDiovAEoKrmZKBJRIx+TKmzPEp3O001F3BjQgGXZgWyUXZf01kyzt+RlAs"
    "/3vSTJJpNIBLqSBzcZKSIm+kEzAUpA0S9TFwRXAS9FHLHfScFP6bkpNfDLknYkCiZ3uWIV"
    "B8bUuZvTyLWXJMISVXOXRYEVlEcop1NtEdwgbmfB/bxJKtzOSmZoIe3WpIYSJ+WxBuSQTi"
    "zQfKkZ0Vwfbi67JObK85HK8SQpuD9D9ez1Dwb7aOkpSDiJw9U80YbfX4cyMkEcZ3P2Tdkp"
    "XzTxuCdnzNUDO66onVzRroTeldC7EvrZQLsrodfIuTCpMmHTc033JGIOw/goMYC67IUbh7"
    "7nwErXqTQ2X2sbZNGpL9tjBCH4IXukWk/EIpC6Lh4kOb2+wHIwjriERKZLPE7+uDV56H9K"
    "bEfnH3XoDGSSzKbo7/11+nG/kOZeDq/epdNz1jq7HL5eyYg0uTGZxhYrwpBxF2FraKJErV"
    "tMJU2JntYjbanM8y3cmsRUXmV7jbCDx002N0Y8MQ57ik1qv4TpA6V4SW/X8WrY8UrrqyaY"
    "53SeEt6viBuzBQPCWwG/z6hktpgDWk3cekltLd++HfqpNd0EA5lmLBod9pJeq7m+2mA/9q"
    "mmUtlVyUplgCxptblzo5s1Zqkph4qrJzT7Jdj2Q6jGr3HLoKi16xvU4V/yPGQTX1LS2/mS"
    "trP7t96Uw97/ZBX8fk7ercnwS6Ni37H7mhz/CLyLcThGlYAqeh2k4anjCIhNZA9dkCFSsb"
    "yliki48SDnusIFjf1lcn+TL/45q1/J1yefauK0ciqb8ViPQdzDbiKICQa8NEzkVv4LXVk1"
    "fX9njnJdQyTT20z9rBk4Dq06tCfMqmYNrCXS04kY4tE0bhTVnlLN9cuKrPaEkHich2dVEM"
    "nPqB1GckoNesUfbi5TD5+8Kn2Uhn1L3dUeXUyYCdgpiUNkrnsrwsgG39vsvxOkPa1dK3jX"
    "Cn4CEWXXCm4WSCBVYqH+eV6uIRCyCJwttp2wHQBpqEsk/iJlnYRq1zV+cl3jUEgvjZM1aa"
    "W8Smv7LgCAi7+6M0UCRtO5p2YQL/EnebkLu31WaZey/i9S1h//AkVEy5Y="
)
