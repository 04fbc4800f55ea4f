"""Address columns compare byte for byte on MariaDB/MySQL, as on SQLite.

``suppressions.address_key`` is written by :func:`postgate.addresses.address_key` (trimmed,
lower-cased). Under the tables' default ``utf8mb4`` collation MariaDB also folded accents and
ignored trailing spaces, so ``bób@example.com`` found (and overwrote) ``bob@example.com``, and a
Ghost batch holding both addresses failed on the ledger's unique key
``(domain, email_id, address)``; SQLite never did either. A binary collation makes both stores
agree. Existing rows need no rewrite: keys were already lower-cased by the same rule, and a
stricter collation cannot make two values collide. (``recipients`` is rebuilt by the ALTER: on a
large ledger, run ``postgate migrate`` in a quiet hour.) The models are unchanged (a collation is
not part of the tortoise model), hence the same state.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `suppressions` MODIFY `address_key` VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
        ALTER TABLE `recipients` MODIFY `address` VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `suppressions` MODIFY `address_key` VARCHAR(320) CHARACTER SET utf8mb4 NOT NULL;
        ALTER TABLE `recipients` MODIFY `address` VARCHAR(320) CHARACTER SET utf8mb4 NOT NULL;"""


MODELS_STATE = (
    "eJztXWtT2zgU/SuafIIZ2oHw3HZnZxKWdukAaYHutNPpGMVWEm8cy5VlQrbb/76SbMeyYx"
    "kb4hCMPrVI9/hxpNx7dXSj/GxNsIUc/3UXUnN0iaetN+Bny4UTxP6z0LcFWtDzkh7eQGHf"
    "EcZ9boVEG+z7lECTsuYBdHzEmizkm8T2qI1dbtxxATRN5FFkgc7HU2BCx3kDbOoDE7sUuR"
    "T4FBPWiV0TgY1/Hbv/ysQTjyDfR9YmGGACGAQQZNqezez91/zGFjbZnW13WOM9Atf+ESCD"
    "4iGiI0TYnb59YzeeQNvl3baFJh5mlzdnxhjNWt+/80bXQneMG2GLXIYPkMWtTYIgez4D0h"
    "az+5b6mwO9sTGwkWOlhsUWUNFu0Jkn2rr28NSl74QtJ6JvmNgJJm5i783oCLtzgO1S3jpE"
    "LiL8lqyNkoAPlRs4TjSo8eiF75yYhO8jYSw0gIHDB5yjwwdI2lqGcdG7Nq5Org2jtTAZYo"
    "Q0dlETGyc+kdij+oKAIX+EV7+127u7h+3t3YOj/b3Dw/2j7SNmK553sevwV/gwCVvhpQRn"
    "p+9PL675A2E2W8NZzBt+CQykMESJYUvYT4Y6PQLHI0jy+U8QmTFgL5cdg5jxokGIG5JRSD"
    "5lqxiGCbwzHOQO6Yj92d7fL6D4787l8V+dyw1mtZkm+iLqaod9nHPJ8bCPIBwiI2+mq3lO"
    "ozTX5bhm7s5jN61KdgbWQLb3d9ol2GZWSrZFX5ptxFyBU5FqGfMgniMnvZ4077SPStDMrJ"
    "Q0i740zdkoXIHtHGjzSK/Fk1A49BeZ/nDVu8hnOrbP0GvZJgX/Acf2FzKUZfmQ1u+DwDU5"
    "haAf2A61Xf81v98frZrYLyCb88OvPPH9H47M8cZ550uW/uOzXldQhn06JOIq4gLdzFBEGW"
    "5enuhCMssfDwmUGZL+jIaZ/TNz6EXJX8TknHbGevf0onP5dc77ZBZ1nfUu3ndzmO9+vT7p"
    "ZD8EyKd8dZRDPcYOgq7isyDBsuQzXF3cz1tWTH6vd5Yiv3uaycMvPp93T5jbFwPBjGyaSs"
    "+ldBw59i0ifMW0wPg7B0PFmigNyzA+4Ljn5+ILCP+z97l7dgI+Xp4cn16dRg4nnt5hZ5ro"
    "y5POWdanJGvTKkynYQ9k+hk5lmVQLUsEFZyIDNNOpIITiXUiw8HDYWXac9Ca/QrszwU2xm"
    "mQl7Qola0c5P0y17KI364rUw9lrvbO3uHe0e7B3lzdmrcUiVohvVw7HIwl/Yo39KE5nkJi"
    "GQs9uI1Vtotdk/Yk2wJdOBQs8TfiDxcpxye3bGwUqvK8b6tIVUbcqqyoHAu652y9PAxcIM"
    "BvgccfDvRngI4QYEs6H1Fwc7PBJg8mlohMW8C2Nm9uwNSmI9sFEISSXY6mXMstciTlBdU4"
    "ERGli4aCs5aK11QqFpOjqtgjYRooqrXLaGpttaTWXlDUtB6/Co045XLK+5MMcHXBuSG+Je"
    "NLKjuShk7y3TJeZFftRXYXvMg8k6y2ByKBmicS77a3S9G8XcDz9tps7a011bV4bb3XtJK9"
    "Jr3toWR/1dsenFrDR5CYoyqTPgNbXcBs1UV8Ztpvt/fKzHtmpp74ojNNt89yDGLTSturMq"
    "aBDuagDM8HapYPFhMT6ONKy5sE0Tx+D8rM4wP1LD5YmMPhertijUAKtBSWn1YtqT8X8eDM"
    "wTAnFblGd4q1owRpxBKmgNTrky/XxcEwtRcdm2cj5Nrovp/4NtQH3FdIv3L3VpH6K7azjH"
    "9wv7QCzGwBHggZ1sEmdIC4xBZwmFMMFdopJmNE8uqFK4LLqLbiAuLZb1lezV9Lq7broayo"
    "Vdv5mJWNBnNAI9xU3QFXfE8gd1VaNMVllFYRH6wiDmzi5+9IFJEvox5E/rrllE/CvQMfQL"
    "0E0sw/lPls8C1du5QF6uqlMtVLIl0y8JRxUiWMZmDNW7zWoj6GrAUutZ1KUzuD0xWQJSY2"
    "pBRNPJqj9ir9twzRpUlZx6xLSmudu2uiBlyyQegG5hipSsHSBltFigAfUKMvbEtrAhSPEd"
    "/x4CDgs/gTruW5EB2v6MEGdsH57OrTGWBXwbEEMAYET7kkIAQ/MCWMX+Jv5mkH9dzkfo1B"
    "KSKIfyuE39h+OYvYNdIzlxh21aKBGP6cwFDgxRKI9mBlom/gWQ8JFmmYpnrdg0VcU6OKFX"
    "J/caiYn9tQLlD0XOaOkTVkjpo55DcAJic/cO8MgdCgAHQtMGW+GImjJKLvEc2AT1lHjqq8"
    "tKvec+6EXLgBLYsfYpFz9oQso7Fr08CPxWh++oTcG7d5BN/aFiKGVqzXVrHWkuoTiku6/l"
    "hXsj3rpFbSN6K4UYFlCdLAyVxLBexKF2ZrPYn12UHPnOtbSGz+9pXqX1Og9SiC5bdtTBFs"
    "kteXrsmcIxo48Zdfkqm3AZa8DaA3DPWGYWN0tFSqh+6oEX32q+qWOVjNeQnOZcGqgjPJwJ"
    "rnTOpZmBOCc3y2uqh7DmgCwS+oovsq8MTByIwhhTCfsdgqkub9xLb8gdHIpWQWauYSXqwV"
    "3oKbm0iJ4N/KuLkBth9tr04RMUX1toPxOPD44Ry5R0Uv9+r3iPX8qka8rpcuvaDYa8F9LQ"
    "V3rfnWH1pSn5HSSwIZ1ECma1jMas13BZqv7OOrM/2obxq+QLbN3PNXlbHRzD939TkX2C9N"
    "mllxgr9uk3UVGb4+S+KxQ1GLjD5mb1/FV8f2Kzw9QgrEzzH1UB1toHYujzza4KV7F11u/x"
    "IqKK/hUCHRRD1bRdJMHFFKFdbDIfARcgGWfmqLl93kFsgXGt8jmDCw1ka0NvIsPMtqfmml"
    "CsGRuWa3HLvyk1VITjKwRrC96gwlPGmAh4lKGUoapjOUUt/Shg9hOoXSRK95KthBxDZHea"
    "lg1FOYCsLE5r5kUM31I77BmJfHvZQk7pECnjo9u0XEzw1s6vRBgjQiqK0gheAfqgoMR+YN"
    "ZHdnu4y+z6wKDh7N0fcVv26nFkrVv223Aq30aWLX0lTRJw1mv/4HRuuh4g=="
)
