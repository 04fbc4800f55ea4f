"""Events searched by recipient or message id read their own index, not the whole domain.

``recipient_key`` holds the recipient as the ``recipient`` filter compares it (trimmed,
lower-cased; written by ``save_events``). Two indexes, ``(domain, recipient_key, recorded_at, id)``
and ``(domain, message_id, recorded_at, id)``, let such a page read only the matching rows, in
the page order. Existing rows get their key here: SQLite's ``LOWER`` folds ASCII only, so rows
holding other characters are folded in Python, as the filter did before.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True
#: Rows updated per statement while folding non-ASCII recipients.
CHUNK = 500


async def upgrade(db: BaseDBAsyncClient) -> str:
    await db.execute_query('ALTER TABLE "events" ADD "recipient_key" VARCHAR(320)')
    await db.execute_query(
        'UPDATE "events" SET "recipient_key" = LOWER(TRIM("recipient")) WHERE "recipient" IS NOT NULL'
    )
    _, rows = await db.execute_query(
        "SELECT id, recipient FROM events WHERE recipient GLOB '*[^ -~]*'"
    )
    keyed = [(str(row[1]).strip(" ").lower(), row[0]) for row in rows]
    for start in range(0, len(keyed), CHUNK):
        await db.execute_many('UPDATE "events" SET "recipient_key" = ? WHERE "id" = ?',
                              keyed[start:start + CHUNK])
    return """
        CREATE INDEX "idx_events_domain_fe8028" ON "events" ("domain", "recipient_key", "recorded_at", "id");
        CREATE INDEX "idx_events_domain_ce1fa2" ON "events" ("domain", "message_id", "recorded_at", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_events_domain_ce1fa2";
        DROP INDEX IF EXISTS "idx_events_domain_fe8028";
        ALTER TABLE "events" DROP COLUMN "recipient_key";"""


MODELS_STATE = (
    "eJztXWtv2zgW/SuEP6WAW6TOczuLBeJupptBmswkmcUMioFMS7SttSxqKCqud7b/fUnqRT"
    "0jupZqq/zUhrxHkg+pey8PH/prsMIWcvw3Y0jNxQNeD96BvwYuXCH2n0LdEAyg56U1vIDC"
    "qSOMp9wKiTI49SmBJmXFM+j4iBVZyDeJ7VEbu9z4ygXQNJFHkQWufr4BJnScd8CmPjCxS5"
    "FLgU8xYZXYNRE4+q9jT1+beOUR5PvIegVmmAAGAQSZtmcze/8Nv7GFTXZn2523eI/Atf8M"
    "kEHxHNEFIuxOnz6xG6+g7fJq20IrD7PLmxtjiTaDP/7gha6FPjNuhC1yGT5AFrc2CYLs+Q"
    "xIB8zuU+ZvDvSWxsxGjpVpFltARblBN54oG9vzG5f+KGw5EVPDxE6wclN7b0MX2E0Atkt5"
    "6Ry5iPBbsjJKAt5UbuA4UaPGrRf+5tQk/D0SxkIzGDi8wTk6fIC0bGAYd/dPxuP1k2EMCp"
    "0hRkhtFxWxduIdiT2qLwiY80d4/bfR6OTkYnR8cn55dnpxcXZ5fMlsxfMWqy6+hA+TshVe"
    "SnB28+Hm7ok/EGa9NezFvOCLwEAKQ5RotpT9tKmzLfB+AUk5/yki1wbsx+XbIGa8rhHigr"
    "QV0resi2ZYwc+Gg9w5XbA/R2dnNRT/++rh/b+uHo6Y1ass0XdR1Sis45xLjoe9gnCOjLKe"
    "Xs1zFqW5bsY1c3ceu6kq2TlYD9k+eztqwDazqmRb1GXZRswVOIpUy5iteI6c9H7S/HZ02Y"
    "BmZlVJs6jL0pyPwgpsl0D7R3ornoTCuV9k+qfH+7typmP7HL2WbVLwP+DYfiFD2ZUPGfx9"
    "FrgmpxBMA9uhtuu/4ff7x6Al9mvI5vzwK698/09H5vjo49Vvefrf396PBWXYp3MiriIuMM"
    "41RZThluWJLiSb8vaQQLkmmW5omNkfmEOvS/4iJhPaGevjm7urh98T3lebqOr2/u7DuIT5"
    "8e9P11f5lwD5lI+OSqjH2EHQrXgXJFiefIZri/ukpGPy7+9vM+SPb3J5+N2vH8fXzO2Lhm"
    "BGNs2k51I6jhz7GRE+Yiow/qODYcWYKAvLMT7juMNz8TWE//P+1/HtNfj54fr9zeNN5HDi"
    "7h1WZol+uL66zfuUdGyqwnQWtiXTB+RYdkG1LBEoOBEZpp2IghOJdSLDwfO5Mu0laM2+Av"
    "uJwMY4DcqSlkplqwT5ssy1K+KP28rUQ5lr9Pb04vTy5Pw0UbeSkjpRK6SXa4ezpaRf8YIp"
    "NJdrSCyjUINHuMq2WLUarfIl0IVzwRL/RfzhIuX4+pm1TYWqnNQN61RlxK2aisqxoPuRjZ"
    "fngQsE+Afg8YcD0w2gCwTYkM5HFEwmR6zzYGKJyDQEtvVqMgFrmy5sF0AQSnYlmnIrtyiR"
    "lAuqcSoiShcNBedQOs4YRG9FNH59EZFVzkrMtRa9l1q06H2qapKE6aFqN2oi2o2qNbtRQb"
    "LTgn8XInTG5TT3Jzlgd9G/J74l50uUHUlPO/lJEy9yUu1FTgpeJAnKapMsEqh/KvTJ6LgR"
    "zcc1PB9XEq0q/BeAmvBGhH+zydq9prqVMKlnDzuZPdQTWZXsdz2Rxak1fASJuVDp9DlYdx"
    "nKoC3ic93+eHTapN8zs+qOLyqzdPssqSM2VYqbMqaHDua8Cc/n1SyfFxMU6GOl8WSK6B+/"
    "50368Xl1Lz4v9OFQ4FBM/jKgnbD8beWp9nMRD24cDEtSkSf0uWKwLkF6MWasIfXp+ren+m"
    "CYWV0Qm+cj5N4o+b/wicWf8LRCzJerh3V6vpigNP6Dp401fWYL8EwI6w42oQPEJYbAYU4x"
    "1NzXmCwR8X8Ak4mFIJeCJhPAFfgVgq4PeNlrB1GKCLLKJP0W7tBE0Rd3ESw8swydE5TT5x"
    "OD6J5aht9TGT5pqKbRJgH0wg22HdDFzpLSUW9dF5dRWhbeWhae2cQvn2KqI19GbUX+vuWs"
    "34R7B25BvQTSzG/LfD4kN17tlgfq9W5N1ruJTMvAa8aJShjNwfo3OG5F3QxZC1xqO0pdO4"
    "fTa2YbdGzIxgQrj5aoyZX+W4boxWx5x6wXIXfWd2cskgUEqfRdGaL7bmGFBSG4JL5V62UJ"
    "oA+RrQuxLLsxBCq7CQmjw1uFi9gTQfKBtcE4MJeoan1x1mBYJ0ry9jSmwraxLEnxEvFJVw"
    "4CPktRQ6WQz4XFeiE4wi74uHn85Rawq+BYYFwCgtdccBRzDmBNGL/Ef1WmTLZzk5fFyUqd"
    "UfyrkKHH9rvRufZoSmWHmXm1riiavyT+1niwFKKTnCZJTuBZ2+STWZim+gCCxQcCK/eiZO"
    "pfDhVzbtowUjwi1/KBQDDnPSN4BWDsyvnFhkBsXWJ/iZE1q1yz5me+G86Yx+bunHl6RBBY"
    "QQsVY8TuL/8V0UHPQn3LWagwTVCJzimirXmoXgRoeXkUe9sUxsOJfZ8moHY2Ho68lmrszc"
    "J07G2S5hAULmZQ5TqH04PiPc9z4i0MVXmOXF+f5ySHHjZLc+5dNuxE1pzlFGzg+Y7lGckV"
    "+CgUAjEdD6BrgfWC5xv8HMboEI4N8CmrKDnCcWdXfeHQRnmNPLQsfgJkycGN8ooCdm0aCG"
    "7i1TpybVzmEfxsW4gYcUEKm9mu7S+SNytB6zU+e5pd6UUoXTeG3oKr9xb1bvY9Di8KLEuQ"
    "HnbmVvYkdqpT73Un1ufzHjjXz5DY/Ncr7UjMgPZjWyK/bW+2Jcp5fMNdcgmihx1/95vk9M"
    "KpHYtteomlXmLZG7ktk+qhz9SI3n1VebMEqzlvwLmsayk4kxysf86knYG5XjbY4bLBnC7b"
    "2JXkcNqN7PdMyWPgiQ89MUIq5kpyFsO62RI/tW3+ASzkUrIJpzEkvBiX8Y3GkerDzySYTI"
    "DtRyv71oiYYluyg/Ey8Phho6Wfvtrt1V+YP+FXNWINRbp0YRJFT27s5eSG1tfbD+OZd6Tx"
    "8EsG9ZDpFoQDra93oK/LPl6d6a86Z+c7ZNss/Z5MZWw0y78jc8jbvw91D9a+ddauR1P6JM"
    "VtmqKVKYsl+/Uqvjq27/DsRCkQH2LqUXWwX7Vz+cqD/b5376I3g38PUs0TnFdINFHNsE6a"
    "iSNKoz2dcA58hFyApU+H8yVOpXsza41fEEwYWGsjWhs5CM/SzZdjVQiOzDW7zdiVn0whOc"
    "nBesF297NJ/Bw8HiYUJ5NkmM5QGp0hBrdhOoPSRO9lKvjl/2FC2Pg="
)
