from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_counts` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `domain` VARCHAR(255) NOT NULL,
    `dimension` VARCHAR(8) NOT NULL COMMENT 'domain, send, provider or tag',
    `value` VARCHAR(255) NOT NULL COMMENT 'the send key, provider or tag; empty for domain',
    `bucket` BIGINT NOT NULL COMMENT 'start of the hour, epoch seconds; 0 for sends',
    `kind` VARCHAR(24) NOT NULL COMMENT 'what was counted: delivered, opened_unique',
    `n` BIGINT NOT NULL,
    UNIQUE KEY `uid_dashboard_c_domain_e9ae5c` (`domain`, `dimension`, `value`, `bucket`, `kind`)
) CHARACTER SET utf8mb4 COMMENT='How many events of one kind fell into one slice: a domain, send, provider or tag, by hour';
CREATE TABLE IF NOT EXISTS `dashboard_firsts` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `digest` VARCHAR(32) NOT NULL UNIQUE COMMENT 'hash of domain, send, recipient and kind',
    `domain` VARCHAR(255) NOT NULL,
    `event_id` BIGINT NOT NULL COMMENT 'the stored event that was first',
    `at` BIGINT NOT NULL COMMENT 'epoch seconds of that event',
    KEY `idx_dashboard_f_domain_d793c6` (`domain`, `at`)
) CHARACTER SET utf8mb4 COMMENT='The first open or click of one recipient in one send: what makes unique counts unique.';
CREATE TABLE IF NOT EXISTS `dashboard_sends` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `domain` VARCHAR(255) NOT NULL,
    `send_key` VARCHAR(255) NOT NULL,
    `email_id` VARCHAR(128),
    `subject` VARCHAR(255) NOT NULL COMMENT 'from the first event that had one',
    `tags` VARCHAR(1024) NOT NULL COMMENT 'JSON list, as first seen',
    `first_at` BIGINT NOT NULL COMMENT 'epoch seconds of its first event',
    `last_at` BIGINT NOT NULL COMMENT 'epoch seconds of its latest event',
    UNIQUE KEY `uid_dashboard_s_domain_8da6d8` (`domain`, `send_key`),
    KEY `idx_dashboard_s_domain_c387d3` (`domain`, `first_at`, `id`)
) CHARACTER SET utf8mb4 COMMENT='One send (a newsletter: Ghost email-id, else the message id) as the sends list shows it.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWU1v2zgQ/SuETgngBq6dbLzuqRts2+whAZpgL9lCoKWRxbVEakUqrlHkv3eGtCz5M3"
    "KwThXAN4mcEel5nJn36B9eyHU8UjwPz65UIY03ZD88yVPAh7W5DvN4li3N0Jjho2TZ3g/I"
    "XluHkTY5D+jDEU804FAIOshFZoSS5PVFTVnK5YzBI6ATUxFTEthEyJBFkCRMSKPskE5EAE"
    "PGWahSLmSHaZBhh2W5ehQh5EzlzPBxh41mLFZFTsuHKsD1hRwfdKV/5AkZaMZzYFIZprNE"
    "GJo1IsXvmBhEzkZFMAHDhGbd0zPaXCHFfwX4Ro0BLXLc4sOD51a0e0dfqSlK+PLIkwLowX"
    "2Fnmjf3rdv+IQP8B00fYBes4kfCUjCJTCFxcqO+2aW2bE/xPhamk/WlhYcIXBJkcrKPpuZ"
    "WMmFg3CnYAwScm6AVjB5QaDKIknm56DE2f28ysTtsuYTQsSLhI4GebsNVGOe79/c3vt3f9"
    "77vrd2bEqPGr7zoUBJOnKCDiAFYExbePd7r9fvX/a6/d8GF+eXlxeD7gBt7X7Xpy6f3Gaq"
    "aLlP2Zhdf76+uacNKTzX7uDTwJP14YY7LwtGLZUWqC4jcBXzfHP8K48VDPDHrWJQRnwXCO"
    "VAhUKVj68BQ8q/+wnIsYnxtXdxsSPEf3/8evXl49cTtDpdDvTNfKrn5ijmtRjX86VxmOtO"
    "bY60t7MUrda6JiAMGkAw2ArAYDX8iwrVNPQLh1aHHSuzDTmbwGwt7B8YpJmZsQhfa4W7Dd"
    "lQ9YnmNb/yeb7u/0JItOG5oe5N2FD/7TDIVBAjThjnUH9gXYuI7ckNAXnFLlFhZDv4HhlT"
    "2rc6YaYxN2zKNbMkEMIhCyERj5ADli2V4SZDf76Hl+TKeZNUOd+eKeeribKhXezKkU2N4o"
    "Dp0X3ztIgYaTSpsSIaGPFgMiWlsDajemqb7fpU2ktXR7jkYxtL+t2Ok5Uq5pPI9TaF4+aa"
    "K5yI7BsqnHssU9beHn9qHQHqi0mpP3IIRCZQkaD+cOoD69aQ2TxK+QQ0cyfGJVT5drYmbw"
    "63zAahsiI76rqFG6dKjjKkfTJEjEFvIAW7+HHp8f80nUOA4MWYlnTMlylydeA50bd579y3"
    "4fR7DRpOv7e14dDUik45asGDs197w+PvW2zqXq1mwFaUGIWUyt1lIROek66o7GPtKkkVMn"
    "xPTcLbr0eWxIfTJYiGBaZtSLSHjN1hjd7CxexUcyq2kHnPM7HbOe1hJ5xJmOoEjIF8yD7H"
    "CmkTYJVN3glsHYDeVl2moDX+BCbCU4bZVV4GaJYIdNCxmmomzDoXO+RCz1wbk5s/gdna1f"
    "DDUufBMuG73BLhka+1la8dqcLBqcIiX/aIct3nGOeGlIyK3kZKtj3OdZ8XxXleMtoZ5ve9"
    "JlfwaLU1zHZu5TgXo38h2Evj1Vxe7zB73p4sK8pVavuiu+Oo8d6Yh3Sh0Zqrd8PHep/4l/"
    "YtDv5fd7c3lop0WCkykJ/Ai/7ueN9tdIlLZtsPfnf9IrfOaZoTlrrX21IZwuh6LrRNatSh"
    "SfgLkKk5vT1gEtxXW5H5pSLw6SfAtIvr"
)
