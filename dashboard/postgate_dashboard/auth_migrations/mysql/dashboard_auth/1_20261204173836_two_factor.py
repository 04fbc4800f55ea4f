from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_recovery_code` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `code_hash` VARCHAR(255) NOT NULL COMMENT 'argon2id',
    `used_at` DOUBLE COMMENT 'epoch seconds; null: still usable',
    `user_id` INT NOT NULL,
    CONSTRAINT `fk_dashboar_dashboar_153dc431` FOREIGN KEY (`user_id`) REFERENCES `dashboard_user` (`id`) ON DELETE CASCADE
) CHARACTER SET utf8mb4 COMMENT='A one-time recovery code of an account, argon2-hashed.';
        ALTER TABLE `dashboard_user` ADD `failed_codes` INT NOT NULL COMMENT 'wrong second-step codes in a row' DEFAULT 0;
        ALTER TABLE `dashboard_user` ADD `totp_last_step` BIGINT NOT NULL COMMENT 'last accepted 30 s step: no replay' DEFAULT 0;
        ALTER TABLE `dashboard_user` ADD `totp_secret` VARCHAR(255) COMMENT 'Fernet token of the TOTP secret (key from the secrets file)';
        ALTER TABLE `dashboard_user` ADD `totp_enabled_at` DOUBLE COMMENT 'epoch seconds; null: two-factor is off';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `dashboard_user` DROP COLUMN `failed_codes`;
        ALTER TABLE `dashboard_user` DROP COLUMN `totp_last_step`;
        ALTER TABLE `dashboard_user` DROP COLUMN `totp_secret`;
        ALTER TABLE `dashboard_user` DROP COLUMN `totp_enabled_at`;
        DROP TABLE IF EXISTS `dashboard_recovery_code`;"""


MODELS_STATE = (
    "eJztmd9v2joUx/8Vi6dNKhUFSnu7J0rbe9GmdqLsvlxNkZuchAjHzmxnDE3936+PQwgQYA"
    "n9sVTaGxz7OCefY/t87fxseFRNHgSVnkMTPTm+yv6OwBXfQc4HwoPGBfnZ4DTCH+UcjkiD"
    "xnGxOzZo+sA2RpILX8fNnB+UltTVpptPmQJj8kC5Mox1KDg694ng0NRhBCTzJuhNhE8oJ9"
    "R1RcL1EaEyELzdnJhngXeMY3vCNYOHPHjaMAkPvyXgaBGAnoA0g/331ZhD7sEPUNnfeOr4"
    "ITBvDWHo4QDW7uh5bG1Drm9sR4zwwYBgScTzzvFcTwRf9g65RmsAHCTVgMNrmSAmnjC2AJ"
    "yRSyPNu6Qhrvh44NOEIWz0TgPIbQ3Hub0bO/fXY8dpFBKReaxAXZhcwTGJJlRl3z7AEJrt"
    "k+5Z97zT656bLjbMpeXsMX10DiZ1tHhux41H2041TXtYxjlUzJqD+SmyHUyo3A53zWmDsQ"
    "l+k3FGdB/kzJBTzmfw4Zgb6QRMJ0MJ2BH94TDggVlyhvDp6R60//ZHg3/6o3em13scXZiF"
    "ly7Q20VTO21D/jnvRIFZ07pI+4YJumMur/hswPbRqQTuxYx9adoQC3dClNkRuKc+2BEuiN"
    "IhYyRRNpRSadhD/eruy+Wna/J5dD0Y3g/vbnHAaK6+sbwRTcYQaktodN3/VEyBdCptJise"
    "v95Rft9sf9VNBbdpf7p1T0FcWya4kBAG/CPMLeShiYhyF7ZA3VUrvyzGfWO0H7PplFnzBS"
    "npbFnoVmeZgeEBg3QKD/r3g/7VdcMif6DudIZo1thji2iLDcuyb7EpakebFsppYOHgW6Q1"
    "Y08aymibLF9VNE02d34tZe44kBikEpzMJoJEdE6UmV8k5EQLYsQFWY56RGahnlhlYusBia"
    "lSMyE9gkXM2D1CiRQMikrnxZ7yRwjVSwhBRENWRQQtHZ5HAL0E3AYTM5DEpapk5V0XQJ12"
    "q4QAMr12CiDbtl59s0VRWXQWHP8IzyrCEzeeKriz/vWm7EVmIxaSfA9hlhaOqrBPeiVYn/"
    "R2osamddIKlDLxOVOYVwG+4VZr7u6E8gAUMVWRiUAk+oII5hFXiGlozEqLmJi1OsU0HJCT"
    "XrdETnrdnTnBpvWc+GavNocoE2zIVYXqWfB7Pf3fqpiTmRQ8WGoOhQoF5casZAKepbzmwJ"
    "lwpwZcwvW2qrrnsLvpeOCJ9zDkx1Whr514a3G6dSUglap3DOturwn9qfcMtaDOqNLpLlEV"
    "fMHzDV3x1AK9Fjp2TEAStoDfXW433A4qt6/E/AYkB23Om1PgeMOOp87x3fgzScMn74xkIL"
    "4UkW1JjYr4pnK9r438tLiBI7jKe9MW3ze0SLJ7UD0TTZ+62qjV0Cgn36/P6rF7kNIQF9Ny"
    "GQY7xVHRt77qCMPE71IQmzhIp0VQpUJsqAsiIWZ0Xkkn/dVudzpn7Vand37aPTs7PW8tBV"
    "OxaZ9yuhz+jeJpbSEV1dRChuJ3lwPU69KtvulJxWu6YpqYGPs58XeI2MK99u5b15XD9eqX"
    "2C0Zulz433wcAaP2pYvpKPuJuB4i7MnX34/Pf2n9+D+XBzCq"
)
