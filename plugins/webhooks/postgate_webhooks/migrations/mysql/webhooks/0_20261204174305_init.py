from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `webhooks_attempts` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `delivery_id` BIGINT NOT NULL,
    `at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `domain` VARCHAR(255) NOT NULL,
    `webhook` VARCHAR(32) NOT NULL,
    `url` VARCHAR(2048) NOT NULL,
    `event_id` VARCHAR(64) NOT NULL,
    `status_code` INT COMMENT 'none when no HTTP answer came',
    `outcome` VARCHAR(16) NOT NULL COMMENT 'delivered, retry, rejected, failed or refused',
    `error` VARCHAR(255) NOT NULL,
    KEY `idx_webhooks_at_domain_b41cf3` (`domain`, `at`),
    KEY `idx_webhooks_at_at_1457ea` (`at`)
) CHARACTER SET utf8mb4 COMMENT='One POST made (or refused before it was made), for the operator log.';
CREATE TABLE IF NOT EXISTS `webhooks_deliveries` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `domain` VARCHAR(255) NOT NULL,
    `webhook` VARCHAR(32) NOT NULL,
    `url` VARCHAR(2048) NOT NULL,
    `event_id` VARCHAR(64) NOT NULL COMMENT 'the event id, for receivers to de-duplicate',
    `event_data` LONGTEXT NOT NULL COMMENT 'the event as GET /events returns it, JSON',
    `status` VARCHAR(16) NOT NULL COMMENT 'pending, delivered, rejected or failed',
    `attempts` INT NOT NULL,
    `enqueued_at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `next_at` DOUBLE NOT NULL COMMENT 'epoch seconds: due from then',
    `lease_owner` VARCHAR(64),
    `lease_until` DOUBLE,
    `last_status` INT COMMENT 'HTTP status of the last attempt',
    `last_error` VARCHAR(255) NOT NULL,
    `finished_at` DOUBLE,
    KEY `idx_webhooks_de_status_dc78d5` (`status`, `next_at`),
    KEY `idx_webhooks_de_finishe_21654e` (`finished_at`)
) CHARACTER SET utf8mb4 COMMENT='One event to POST to one URL, until it is delivered, refused (406) or given up.';
CREATE TABLE IF NOT EXISTS `webhooks_signing_keys` (
    `account` VARCHAR(255) NOT NULL PRIMARY KEY COMMENT 'first domain of the account',
    `key` VARCHAR(128) NOT NULL,
    `created_at` DOUBLE NOT NULL COMMENT 'epoch seconds'
) CHARACTER SET utf8mb4 COMMENT='The HTTP signing key of one account (the domains that share an API key).';
CREATE TABLE IF NOT EXISTS `webhooks_subscriptions` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `domain` VARCHAR(255) NOT NULL,
    `webhook` VARCHAR(32) NOT NULL COMMENT 'accepted, delivered, permanent_fail and so on',
    `url` VARCHAR(2048) NOT NULL,
    `position` INT NOT NULL COMMENT 'order of the URL within its webhook',
    `created_at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    KEY `idx_webhooks_su_domain_3cebe7` (`domain`, `webhook`)
) CHARACTER SET utf8mb4 COMMENT='One URL of one webhook of one sending domain (a webhook holds up to 3).';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWm1T2zgQ/iuafIKZtAdOCFy/AaWUO0oYSG8607nxKPYm0eFIriU3ZTr976e17PglMb"
    "VzgRrOnxJrd2X5WXlfHvl7ZwHjmRB38vWxUjD3VecN+d7hdA76z6qwSzrU97MiHFJ07OX0"
    "bWr0IykdSxVQB2eeUE+CHnJBOgHzFRMczYYcyPXwdkTm1AWyIwISwCSU4JIxTEQAhCmyoD"
    "IS73aJHiJqBkT4EFClLzwxfY13coWjb8X4dJuThpx9CcFWYgpaHuipP/+thxl34RtIvPys"
    "bzynjEcPqzpa+jn6RTX/zp4w8NwcrMxF1WjcVvd+NHbCphdcvYt08VHGtiO8cM5Tff9ezQ"
    "RfGjAeuWMKHBcMeAcVhIguDz0v9kgCuHmIVMWsPmPjwoSGHvoIrc0C0rGObV8NR/bt2ci2"
    "Oyv+Sywy6MdDjuDoe71UGQEwxSW8+t2yer1Da683ODroHx4eHO0dad1ovauiwx9mMSlaZq"
    "oIs4vzi6sRLkjoDWa2IA78iGyoosYqclKKvgse+wrBvV3XDQXDn/sjQf8hhyQDqUfSl+SF"
    "uSR1AVWryL/zBC0B3qgX8J6gfnMQ74AvnBmRoAF2ZTEarQf/ARzfDj+eXJ6R65uz04vbi+"
    "EVTji/l1+8VIhDeoCpCI6bs+PLAsppVMojfTqjQckOX1oUwNarbg7U1Tf3nH6zPeBTNdOX"
    "1sHBA4D/dXxz+v74Zkdr7ea371Ussowsj3Gc8eqAnDF5gSj3rAog96xSjFGUhzgMvDrwxu"
    "ovEFprr39UZQdrtfItHAnzAMNX4GptNixHOWvzAqEe9CsAPeiXwoyiPMhSURVKjaALqziX"
    "lhwFq41KjrjCe+z8x4UuuBcz4IQL8n40uiaUywUExEEE6hQj1n7/sH/UG/SXNchy5KHSY7"
    "XMEKFyxHwN3uX7OmPS5G2d1KLgdnVbo4J7/PkHHIUDE8o83eakHU9F9HNvwP6gwhuwPyh9"
    "A1BUCDNBIIJaMSYxeDpPdDrPqxTBFnNyl2lzcGBMnbsFDVx7RSIsUaa7Kppb8+II5XQaIY"
    "cPiU+wJAjexr1RZy19sJR2K/IH8fZmUINBiFISUcJ0/foXA9LHm8suCbliHvb7TJLci2P4"
    "gJ3+3mAXX5eplnAS+uvJhC3PX4VXMOEftTl8U3ZCLkwYZ3IGrt2yDM1lGdrmq22+2ubrxU"
    "DbNl8bVKlIqJu0yVxDsQfgAOZHiQnUhVdu6HvM0SvdpEbdfpdmkMWgvuqPkU7BD/kjsXom"
    "HqGSnJ+NyG/RlcQuIgy41FVMl/xxawjH/8Rgjs4+RUlzLmPWMsF958Pxp90cn3k5vDpP1D"
    "N+Or0cnqztouu8K6nFE3YRPnAXYavpnNismy8iTVuH9aNp7JrRzWVP+CqSGVmTpzs82Xvc"
    "MnNrZAVw/UyhKepXMH3gcKRg156S1DwlSTqrOphnbJ4T3m+IGwKZBGKOR928EfB7QCXYYq"
    "HRqhPWC2YbxfanIUYbw0AbyCKuotZmL9htuOEbBvZj72oqlV1WrJQmyIJVk9n+iOA3SyVi"
    "En05g6snNP1Q6OlTaIRfbZo5b9VyzVWYlywDWSeWFOzaWFISSxrD69+yKdfP/ieUMPsZeb"
    "city+NiX0H9xXZ/ZGOLibgGFOiTTHqIAFPHUfo3ER2MAQZClXqcEQVkfqN13JOjq8v0GJ3"
    "ldbf5sQ/5/NLmfr4VnWCVsZkOxHrMSh7/TSBzgkGvCRNZFb+C0NZOXF/Z7ZyVUfE6k0mfT"
    "ZMHPtWFcJTa5WzBtYK3ekEgHjUzRt5s+fUc/2yJqs5KSQcZ+FZl0SyGpXTSMaoxinxx5vL"
    "JMLHUyWX0rBvSbjaoUuFmdBPSkIfOevemjSyxXnrfW2enGa1h8DtIfAzyCjtIXC9RKJLJf"
    "CjT7oyBwI+BDrY4oETHgfoMtQlEr9F2aSgas+Ln915sS8kS/JkRVopa9LYcxcNgAtB0iRg"
    "Nl0wNdP5kilJMi/s07NKbcn6vyhZf/wLlNwvuw=="
)
