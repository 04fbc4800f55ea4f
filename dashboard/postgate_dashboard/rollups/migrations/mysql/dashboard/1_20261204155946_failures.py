from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_failures` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `domain` VARCHAR(255) NOT NULL,
    `daily` BOOL NOT NULL COMMENT 'true: a UTC day; false: an hour',
    `bucket` BIGINT NOT NULL COMMENT 'start of the hour (or day), epoch seconds',
    `kind` VARCHAR(12) NOT NULL COMMENT 'hard, soft, suppressed or complaint',
    `code` VARCHAR(8) NOT NULL COMMENT 'delivery-status.code, empty when none',
    `enhanced` VARCHAR(16) NOT NULL COMMENT 'delivery-status.enhanced-code, empty when none',
    `provider` VARCHAR(32) NOT NULL COMMENT 'mailbox provider of the recipient',
    `n` BIGINT NOT NULL,
    UNIQUE KEY `uid_dashboard_f_domain_5f082d` (`domain`, `daily`, `bucket`, `kind`, `code`, `enhanced`, `provider`)
) CHARACTER SET utf8mb4 COMMENT='How many failures of one type, SMTP code, enhanced status code and mailbox provider fell into';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS `dashboard_failures`;"""


MODELS_STATE = (
    "eJztWttu2zgQ/RVCTwngBI5z3fSpDXrJYpssmnRf2kKhJdriWiJVkYpjFPn3nSFFS75GNu"
    "pEwfrFkEgORc2Zy5mRf3khVVFX0izcv5C50N45+eUJmjC4mJlrEY+m6cQMjmnajSfX+wGu"
    "V0agq3RGA9y4R2PFYChkKsh4qrkUKPVJDklCxYiwewZCRPaIFIwMuAhJj8Ux4UJLM6RiHr"
    "BzQkkoE8pFiygmwhZJM3nPQ5YRmRFN+y3SHZFI5hk+PpQBPJ+L/kaf9F1Q2IL2YSkOhXRE"
    "dlBCEZoxIqQmKo25xjnNE9hYR4xnpJsHA6YJV6S9u4+nzQX/mTNfyz6DFRmc+ds3zx7BvA"
    "zICoVqg5t7GucML+wueIUv4v34AVdwwR6Ywg3wNh34Pc7icAJdbsAz474epWbsHe9fCv3B"
    "rMUHdgHJOE9EuT4d6UiKsQC3ZtFngmVUM3yCznJEWeRxXBiGA96+XrnEnrIiE7IezWO0FZ"
    "S2ByjHPN+/ur71b97f+r43Y0dOogJ4MRRIgTbI0SJRAX08wt4fnc7h4WmnfXhydnx0enp8"
    "1j6Dtea8s1Onj/YwpbbsVkZnlx8vr27xQBIM3XoCDjwaGaqplTJgVHxrjOokAhcRzebrv5"
    "SYwgBebhoDp/FlILiBEoXSQZ8DhoQ++DETfR3Bbef4eImK/3n75eLT2y87sGp3UtFXxVTH"
    "zqHOKzqu+kttNVeFmqxpb2lscqGphfcY0iDYQUyB2MTjEQ6o6fBYB6aDTg2UDjoLQcKpSY"
    "zGYawuPmOBRmODqkZcyICNZrB5Q1iS6hHpwW0lujfBZcpkUj8xlDJPJ4cXhERpmmnnBuga"
    "ZAf1T0e7LcJSGUQAGCg8VG9I20BjMnhNZJ4xp5RgmXy/guu49Y32nGFENRlSRQyHZOE5CV"
    "nM71nGIMjJFA4Z+sUZ1nGaozo+c7TYZY6mPWZOclnmLPPSygb9pP3qSRTy196gwqFwoEuD"
    "wRALjZkZ2ZGL1s5OJZ1keoQK2je6xPe2DM4VQR8gdeYZ8+aXSG62fpHUsxKrlklOzJUvqM"
    "gWufl8+ze4TAiXTERUBCwkEPF0rswowQIFMk3clQ9lOhoXPYtLpU087bvAnWwIvrszjOTu"
    "zr73rqMrX28vbB1VLsAiYfecmACBMbwLASJghD2kscxg/34m81TVKqRwxzm1k7Hz0GDoXs"
    "u4a/EG29qqOWFhW1u9cG3lXGjKyKWMGRULtOxkppTcBaHmaNlDh8HeTxGC3thdYUTMbSvN"
    "h2CZUV9f/4WbJEr9jK2VT5n41dfP795DIWUAgUVcL2CAW7q+ZejPjgycHqi4kj0Nv3maAj"
    "tQkP8BnUAmaUwLO3r53oLL5XW179Y3WvtFNTTas3xrv2BhpqEwjJggSK7W0f9ZDfWfLdT+"
    "2bTyqwSqLgATpOs1geAOvvfb0Dg4qeMNJ4u94WQakDGLXQGQqkyjAZkpNorEkbGAp5ytF5"
    "EO60Skw8UR6XAmIm2bBf+bZgHP1KKvqXauVb9RgOtrtgluwejNetMrM0k55sHAle9jf4BC"
    "3H7pZCIsauqEDqDOtxZju2/ubn+mP7C5x8wp3aeq7molT7UtyrdVePOqcN5nak5tsuzTm5"
    "P4PblmEyAA+1URmvnk17fS4LH15Wj8yyecbStk860Q828Sf9VgU5VqdCFuPmVqmUGJZ84M"
    "vKr4QtNzeaxZIalEhq7YGqHNb4tMtD4sywU0DDBNQ6I5ZOwGYvQCLmam6lOx8Tfhp5nYdU"
    "F7yA4lgg1VzLRm2Tn5GEmgTQwrlj0OqYOBtKlVEqYUvALh4S4B73J/IVAk5iCgIjlUhOtZ"
    "LrbJBz3xIQXF/AEbzXwZ+TaReSBM+Na3eLjla03la1uqsHGqMPaXFbRcldnquSYlw6A3l5"
    "ItaT5WZNbScxEymqnmg06d/i6sWtJfn+nxqrz7LwtWqvEqIs9nzJ63IsvqZTIxedH2OCq8"
    "N6IhWbOluxFL17SvVtG/W99g5f95c31lqEiLuCID+Alb60+SB+1a//jCZYsNvz37r68qp6"
    "lPWKpSr6vK4FpVfaFppUYVmpiugUxF6PUBE8O5morMixaBj/8BJPnHrQ=="
)
