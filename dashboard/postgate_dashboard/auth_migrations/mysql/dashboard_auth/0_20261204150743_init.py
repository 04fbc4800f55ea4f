from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_user` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `email` VARCHAR(320) NOT NULL UNIQUE COMMENT 'lower case',
    `password_hash` VARCHAR(255) NOT NULL COMMENT 'argon2id',
    `role` VARCHAR(16) NOT NULL COMMENT 'admin or viewer',
    `session_key` VARCHAR(64) NOT NULL COMMENT 'changes on logout: old cookies stop working',
    `failed_logins` INT NOT NULL COMMENT 'wrong passwords in a row',
    `locked_until` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `created_at` DOUBLE NOT NULL COMMENT 'epoch seconds',
    `last_login_at` DOUBLE COMMENT 'epoch seconds'
) CHARACTER SET utf8mb4 COMMENT='One person who may sign in to the dashboard, with an argon2 password hash and a role.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzll1FP2zAQx7+KladNYghKKYg3BkVDQu1UYC/TZLnJNbHi2MF2FirU7z5f0jQ0oaxhgJ"
    "D21vzvzr78rnd2HryAmWiqmA4oy2y0e1493hrQ3gl58CRLwP143nGHeCxN225osGwqGitk"
    "VczUWM1866wzJgw4KQDja55ariTGjCWQFLRRkuSRIgmbE8NDSbgkVhEbAVmtukNybiPCJG"
    "E6VLJHUmZMrnRAIufi9IAwopWAXdw6UL7bm8vwTXfJJL/LgFoVglsFgf785WQuA7gHUz2m"
    "MZ1xEMEabx7gAoVO7TwttEtpLwpHfIEp9ZXIElk7p3MbKbny5tKiGoIEzSzg8lZnCFlmQi"
    "yrUnEvM61dyhQfxQQwY5nAUmF0mUCteZSOxjf0enhDqdcqYxXxiPlS8pXEv4BL1RRvH2IK"
    "X3r7/aP+8cGgf+xcijRXytGi3LoGUwYWeEY33qKwM8tKj4JxDRUSxkWb61nE9NNgVwENti"
    "7pJtuK5HvD9YTKQROfGWj+sTdATtg9FSBD158n5KC39wzSH6eTs2+nk0/O6zOurly7lt08"
    "Wpp6pQ2515yrpqDYFF14twJfh3sl1ODrefMP5MsRUDZfV+69w8MtuDuvjdwL2zp3HDxdcF"
    "f+H5tykLhBrDT5zSEvD46usPcHW7DeH2xEjaZ10gaMcfnRGOZdgDfCPjR3P2IyBEPcqShU"
    "qDJ7QpQIiK9UzJ1srEqJ69UYy/CCmgz6W9Rk0N9YEzSt12TmZjUE1CXLpelwerbi/n6Qvl"
    "ZZ9jrWJNdKhqs7h8EbCl438i0L8CrHaw1cKD924DJpnzpVL4RiG4g3AxvAZxj5Zsh3u0KH"
    "VPkRMeBoBmY70s9gPB/ffr0aku+T4dnl9eV4hAsmc3MnaiNKTuC2oDEZnl41wPsakAotKW"
    "2NfT3sPaG/YPx8POqCGVtOia7gW5EvZL+8Lv4f6PHTaBY/usejMGV+nOM3ZMuiemqTb9uU"
    "9JKmwiQLC4T4govFH/Cd2+U="
)
