from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "mailgun_relay_cursor" (
    "domain" VARCHAR(255) NOT NULL PRIMARY KEY /* upstream domain */,
    "next_path" TEXT NOT NULL /* path and query of the upstream paging.next link */,
    "updated_at" REAL NOT NULL /* epoch seconds */
) /* The next upstream events page to read, per upstream domain. */;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzNlE1r20AQhv/KolMKwQdDLr05rpIGXLs4agmUsoy1ow+82t2sVq1N8H/vjGRHttWEQn"
    "LozXrnU+8z1lNUQanzxkiPGraj+BeaMG18bX30UTxFBiqkH69kXYoInBvksB5gpYfVMu0L"
    "V3XwkAbKyUDXSJLCOvWlC6U1XJkUKAxugmgcpSJUAnl2LRzkKIIVpKlL4dD3GcrSPDPiAc"
    "qmJJYmf4dejSkfG5TB5hgKZHt+/CS5NAo3WB8e3VpmJWp14l7XhZu0MRm2rtWnBfibNpt3"
    "XcnU6qYypxVuGwprnktoL1ZzNOghoDqyzjRa7x0/SN3OJATf4POyqhcUZtBoBsDV3Ra9Fk"
    "k5XyTyPk6kjIZwzlw6N3zfMbWGKZfkdGtKBRup0eShoMfx1dWum9o706XxgO+T5fTzZHlB"
    "WR+4u6Vj6S5qvg+Nu9iubQIBujYtjd5+hi4d0MABgYRCfydwUvQ+EA5CT6G/+jdg4CUFGC"
    "Voit8Kmwm6z/6E6bqJx6i9fF2a9b9heoVKEj8k3KSq60d9DOPiy+Sh5VRt95HZYn57SD+C"
    "N50trltmPaPGKXZSQhhCutEWXqB0WnaGKeO6/wgUOpsWokaymk70rRg+Lb5dz2LxdRlP7+"
    "7vFvMT47sgSySUobVjGU9m5Dp/pbL10R+FhRWk69/glRxE7Ni+lDsMVePqXAFDX1e1f8Hd"
    "7g+HGhro"
)
