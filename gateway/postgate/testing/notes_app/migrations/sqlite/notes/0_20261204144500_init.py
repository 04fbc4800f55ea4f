from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "example_notes" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "body" VARCHAR(200) NOT NULL,
    "created_at" REAL NOT NULL
) /* A short text a test writes and reads back. */;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzVlFFv2jAQx7+KladN2ioU1sH2RhndIlUwUbaXqrIusZNYOHbqOCqo4rvX5xACZEXay6"
    "S9EPy/+1/Ov3P8EihteXU1d7/BV/ISKCjwz7H8gQRQlgcR1xZi6dP4BopScnqIQFxZA4l1"
    "wRRkxZ3EeJUYUVqhFVompMq1scTyjSXgHpUlz0a4JwHFiOHAKhJDsr7CekwnrqBQ2d9bay"
    "Weak6tzrjNuXEFHh6dLBTjG9fsflmuaSq4ZCe7FwwLeJ3abem1G5FFyt76XGwspomWdaG6"
    "/HJrc60OBqEsqhlX3IDl+AZraiSiain3BFtITbNdStPlkYfxFGqJXNHdNNBpAaXzxYrez1"
    "aUBj3mreOI5V5KtMJ5uVYrDyDDFj5+CcPhcBQOhp/H159Go+vxYOxyfb/90GjXNNPRakp5"
    "ZtH3aL7ChrQ7FM2RQWHnPWChcflhdPRjzbZ9/tMczJ/pt/ln/N3Gzvm3tC8NoBW6CXQH+V"
    "+MoIANlVxlNnfLcDC4gPf3ZDn9MVm+c1nvTyHP96GwiSHvjm/iPhTHg4LtU76VGt445Ke2"
    "M9gp+v5D3Bfoflv8urmbkZ/L2TS6jxZzfEuxrZ5kF0TJCcJfnsFyNrlzqPFWSddHJxsFvJ"
    "WewTDai+hQv5XbDxVhca6Agsxzww3udq+xVNlf"
)
