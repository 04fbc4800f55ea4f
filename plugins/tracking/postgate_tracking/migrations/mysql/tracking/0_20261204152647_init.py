from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `tracking_links` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `batch_id` BIGINT NOT NULL,
    `link_index` INT NOT NULL,
    `url` LONGTEXT NOT NULL,
    UNIQUE KEY `uid_tracking_li_batch_i_14ea34` (`batch_id`, `link_index`)
) CHARACTER SET utf8mb4 COMMENT='A link of a batch as it was in the message (HTML-unescaped), by its index.';
CREATE TABLE IF NOT EXISTS `tracking_hits` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `kind` VARCHAR(8) NOT NULL COMMENT 'open or click',
    `domain` VARCHAR(255) NOT NULL,
    `batch_id` BIGINT NOT NULL,
    `recipient_id` BIGINT NOT NULL,
    `link_index` INT,
    `ip` VARCHAR(64) COMMENT 'per the ip privacy setting',
    `user_agent` VARCHAR(512) NOT NULL,
    `bot` VARCHAR(16) NOT NULL COMMENT 'empty, apple, gmail or generic',
    `rule` VARCHAR(64) NOT NULL COMMENT 'the machine rule that fired',
    `recorded` BOOL NOT NULL COMMENT 'whether it became an event of the events API',
    KEY `idx_tracking_hi_batch_i_f19643` (`batch_id`, `recipient_id`),
    KEY `idx_tracking_hi_at_9c487d` (`at`)
) CHARACTER SET utf8mb4 COMMENT='One GET of a pixel or tracked link, kept whether or not it became an event.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWO9v2jwQ/lesfFqlblpTfu39Bn1Zi0Sh6tg0qZoikxiwCLaXOFvR1P99d07SkITwhr"
    "1Vl039RHL3nO08Z+45+4elA+quuVi+meED88ZcrK1/yA9L0A2Dh/2AU2JRpXbdaNJ07udi"
    "HB/AoUHPQzRq8C6oHzIweSx0A640lwJj+gTBRC4IJXOq3RWhIeGafMcfQfSKkQ0LQ7pk5N"
    "XV7Hr8OhIwAFXMOzkl8y1AEeex+zc4nyddmBDX9eRDR4J/jZij5ZJBZAAT3N1ZZliHewjA"
    "yRyDt758gXfzyEIE4qtaOwvOfC/Hchxp7I7eKmMb8OVI6PcGi580d1zpRxuR4dVWr6R4DO"
    "BCo3XJBAuoZjiDDiLkWkS+nyQnpT/+jAwSr3InxmMLGvmYMYyOF5DZLMeZTGfOh+HMcaxS"
    "NtOInSwkJlcK3Amw1NAQsMQlvH5n2+fnXfvteafXbnW77d7bHhKJvrKr+xAvJmMrHspwNr"
    "ocTWa4IAnbLd6NaHgwMVTTOMokI2N/N3v1c7Ab9d+ZSHk/lIrUkOUi+7P8ZcnIyN/5u5To"
    "r+Q+H/Q3sW+ftbqt3nmn9Uj6o+UQ12Veo8AvEzpj9xWMJvAClbDAP5DKAzzNhp/NjtyE4V"
    "cfDZNP/duLq/7tq+v+5xPj2Sae8XRymcKzDTy5GE8HQDWW8sV6p5ygYQ66950GnlPySFtW"
    "Ycuujb0pWqgAefKSL8bvy+syPFxxfUC4E0Bd4V6B5tXT7alg5HI4i9VV8XvmExkQHTcLRn"
    "hPyZopUNuV0Uv0CqlRf+fMhbUSKgj7xoQuC/cTj71HuQv6nBfygLlccYjGd0DeWVTHkv6i"
    "4Y3TcKrL7L/3Ja0gP4YXyF8gvjn1zmJKQrMaMiDcC4v/jqNL37/Tj4PxkNzcDi9GH0bTSa"
    "7YxU40gYFrQ8ftsD8uiAoUhz27/GJFg/00p/gmy4olFRNYOlyfu+t6NENBvnd8JpZ6Ba+9"
    "A6yn8tI7KehI4rDRkyfZkxuY6Bias4gmE12/ouTYtdvtGvwCqpJh48tz/NLy/8aWPyesRy"
    "WgGPmShD/u3JW0Jg0j/8mOXVwdU7hj9C8V7efh0VLQVuMNGVdEBfwbdbfQkGidnByOreWd"
    "Vo1S3mlVVnJ0FY65IQscOBuJPf1fNe/5qOcTTct6Fslsn9k1eAZUJdHGV5BMeRTFCby53F"
    "pso/T2lMCB2IeRltBCmfOlWRt3f2V7n3Vq0H7WqWQdXQWpjABzBOspvsG0m/t26q44nO5x"
    "uVBeqCYLHjCvGSUFmgwZeGxfayKlz6io7E0ewwr0zyGuOY2JlV6XlO9J8KoF82NeQtK/Gf"
    "3vY+dgOh3nbtwGo+KV2sfrwRD+Fyf542esrb/1nu3hJx1WkkI="
)
