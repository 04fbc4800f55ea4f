from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `suppression_audit` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `action` VARCHAR(16) NOT NULL COMMENT 'add, import, delete, untag or clear',
    `domain` VARCHAR(255) NOT NULL,
    `list_name` VARCHAR(32) NOT NULL,
    `address` VARCHAR(320) COMMENT 'none for clear',
    `api_key` VARCHAR(32) NOT NULL COMMENT 'the caller API key, masked',
    `request_id` VARCHAR(128) NOT NULL,
    `detail` VARCHAR(255) NOT NULL COMMENT 'untag: the tag',
    KEY `idx_suppression_domain_4d42a4` (`domain`, `at`),
    KEY `idx_suppression_at_c5edcc` (`at`)
) CHARACTER SET utf8mb4 COMMENT='One suppression change made through the API: who (masked key, request id), what, when.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzdl11v2jAUhv+KlatWYhMNo7De0Y5uSBVUtNtNNVkmNomFY6eOoxZV/PcdO9AQUlBg7Y"
    "R2k5DzYZ88r7FPXrw0SxLN0pQriUlGufncs9e+NHruXaAXT5KYwY/dgQ3kkSR5M8z6DJmI"
    "twdxmZPUaBIYCJgSkTIwUZYGmicG4mzaSDK0loqCiMiQoZhQhkykVRZGcGeodzu4QE+RQi"
    "cxSWeMohmbN5BmjxlLDeL0tAFeYuyVyc92bqoCmJzL8GOnySQHJzYqZDCAhskefoOZS8qe"
    "WWofH6CUmHDpgBgPvA/ubsOSGZ5yJmhJD05tqLNjM0+c7ZKHA2muXax9uQkOlMhiWcQncx"
    "MB+1UCl06BkEmmiWF2BqMzq4DMhFiqthIlf4kiJK9+LYeyKcmE1dFm5wUUNg/j4ege3/Xv"
    "MfYqGq8y1vRYmgIl7fqAUlMHILQlfPrq+61Wx2+2zrvtL51Ou9vsQqyrt+rqLPJiClr5UI"
    "7Z4PtgeG8LUrAI82VqDQuXQwzJs5xIBX1iqvSvhSJb4OfhG/CnNn4T/wr2Lv4rQyFA8b85"
    "XAGPJSqIUMoAOLxuLTF2cP02+nl500e34/7V4G4wGtoB43n6KAqnNYGBG4dj3O/dOOprlA"
    "NXW4X0VUT0FtCvGRuwoeojQk0obSAeJ0rDLkGZYAaGzKQhIVIawSokup4AXkyesWAyNBE8"
    "np3vEORXb3z1ozc+OTs/La/24dLjO1dZgWJTqqtAkXHMCtTfbkqA/Xa7BmGI2orY+cqMBU"
    "8Ndg97YC4l/YekW34N0C1/K2fr2thMKLUH+167SZFyEOLlufjRu4lU0LhM/2bjaPnNWrib"
    "O3g3K8ATjqEz2gt4kXLMa9qzXWBAhGDaNoN5/5f3gofRf++1vuxF8VtN4nb65axjFuDATe"
    "XM79Y5IP3u9hPS+jaOSGYIF3sdka8Z/46x5+25xF03cuG+d+DHIcv63Q5L+w00na314dYw"
    "IcHsiWiKKx7lq22xVVfsx5sWIknoKNqXXCz+ALyt1Uk="
)
