from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `example_notes` ADD `author` VARCHAR(64) NOT NULL COMMENT 'added by the second migration' DEFAULT '';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `example_notes` DROP COLUMN `author`;"""


MODELS_STATE = (
    "eJzVlVFv2jAQx7+KladN2ioUKLC9UUY3pAomyvYyTdYlNsHCsVPHUUFVvnt9DhAgA409VN"
    "oLwf+7/+X882FeAqUtz28m7jP4TF4CBSl+OZQ/kACybC/i2kIkfRpfQ5pJTvcRiHJrILYu"
    "uACZcycxnsdGZFZohZYByZfaWGL52hJwj9ySZyPck4BixHBgOYkgXt1gPaZjV1Co5Hproc"
    "RTwanVCbdLblyBX7+dLBTja9fsdpmt6EJwyY52LxgW8Dq1m8xrdyIZK3vvc7GxiMZaFqmq"
    "87ONXWq1NwhlUU244gYsxzdYUyARVUi5JbiDVDVbp1RdHngYX0AhkSu6qwZqLaB0Mp3Tx9"
    "Gc0qDBfOc4YLmVYq3wvFyruQeQYAsfP4Vhu90LW+1u/7bT6932W32X6/tthnpl1UxNqyrl"
    "mY2/jidzbEi7oahGBoXSe8BC5fKHUdOPNNs0+Q+XYP5Mf5d/wt9t7JT/jvalA9gJ9QnUg/"
    "wWR5DCmkquErt0y7DVuoD352A2/DaYvXNZ748hT7ahsIoh75pv7H4ojgcF26R8LzWcGfJj"
    "2wnsBfr+Q9wX6H6Z/rh7GJHvs9Fw/DieTvAt6SZ/knUQJScIf3kGs9Hg4QQ1FI6SuWaYa8"
    "fbjXMQXEc3AMY4I9GGuIuV5NwxZSQViesLE/5hzrudvxjzbufslGOoLPE+X6wO7hQU8P/g"
    "GQyjjYgO9bncZigN01MFFCSeKO6wLF8BQrhRkg=="
)
