"""``dashboard_firsts`` becomes ``dashboard_first_seen``, keyed by the digest alone: one B-tree to
insert into per first open or click instead of three (row id, unique digest, domain and time).
The rows are copied over. Written by hand: aerich does not change a primary key."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_first_seen` (
    `digest` VARCHAR(32) NOT NULL PRIMARY KEY COMMENT 'hash of domain, send, recipient and kind',
    `domain` VARCHAR(255) NOT NULL,
    `event_id` BIGINT NOT NULL COMMENT 'the stored event that was first',
    `at` BIGINT NOT NULL COMMENT 'epoch seconds of that event'
) CHARACTER SET utf8mb4 COMMENT='The first open or click of one recipient in one send: what makes unique counts unique.';
        INSERT INTO `dashboard_first_seen` (`digest`, `domain`, `event_id`, `at`)
            SELECT `digest`, `domain`, `event_id`, `at` FROM `dashboard_firsts`;
        DROP TABLE IF EXISTS `dashboard_firsts`;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `dashboard_firsts` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `digest` VARCHAR(32) NOT NULL UNIQUE COMMENT 'hash of domain, send, recipient and kind',
    `domain` VARCHAR(255) NOT NULL,
    `event_id` BIGINT NOT NULL COMMENT 'the stored event that was first',
    `at` BIGINT NOT NULL COMMENT 'epoch seconds of that event',
    KEY `idx_dashboard_f_domain_d793c6` (`domain`, `at`)
) CHARACTER SET utf8mb4 COMMENT='The first open or click of one recipient in one send: what makes unique counts unique.';
        INSERT INTO `dashboard_firsts` (`digest`, `domain`, `event_id`, `at`)
            SELECT `digest`, `domain`, `event_id`, `at` FROM `dashboard_first_seen`;
        DROP TABLE IF EXISTS `dashboard_first_seen`;"""


MODELS_STATE = (
    "eJztWltz2jgU/isaP4UZkiHkxiZPbaa33TbZSdJ9aTpG2AJrMZJrySFMp/99z5EQNtcapi"
    "TOlhcGSzq6nE/nru9eSFXUkTQNDy5lJrR3Tr57gg4Y/JnrqxOPJslUD7Zp2omnx/sBjleG"
    "oKN0SgOcuEtjxaApZCpIeaK5FEj1Xg7JgIoRYQ8MiIjsEikY6XMRki6LY8KFlqZJxTxg54"
    "SSUA4oF3WimAjrJEnlAw9ZSmRKNO3VSWdEIpmluHwoA1ifi95WV7oXFKagPRiKTSEdkT2k"
    "UISmjAipiUpirrFP8wFMrCPGU9LJgj7ThCvSqB3gbjPBv2XM17LHYEQKe/7yxbNbMIcBWq"
    "GQbfDxQOOM4R87C/7Dg3hfv8I/+MMemcIJ8DPp+13O4nAKXW7AM+2+HiWm7TXvfRD6rRmL"
    "C3YAyTgbiHx8MtKRFBMCbq9FjwmWUs1wBZ1miLLI4nh8MRzw9nj5ELvLAk3IujSL8a4gtd"
    "1A3ub5/tX1nX/75s73vbl75CgKgI+bAinwDnK8kciAHm5h/49m8+jorNk4Om2dHJ+dnbQa"
    "LRhr9jvfdfbDbibnlp3K8OzDuw9Xd7ghCRfdSgI2/DA0VFNLZcAoyNYE1WkELiOaLuZ/Tj"
    "GDARxuFgPH8VUguIYchVxAnwKGAX30YyZ6OoLP5snJChb/8+rm8v2rmz0YVZtm9NW4q2n7"
    "kOcFHhflpTSbi0RV5rS3Ujc51VTHb1RpoOxAp4Bu4vEIG9SseiwD02GzBEqHzaUgYdc0Rh"
    "M1VhafCUGlsUFWIy6kz0Zz2FwQNkj0iHThs6DdqyAyuTEpbxhymp8bh2eERGmaaicGKBpk"
    "D/lPR7U6YYkMIgAMGB6qC9Iw0BgLXhKZJ7QpOVjG3q8hOm58pSVnGFFNhlQR40Oy8JyELO"
    "YPLGWg5GQCmwz98R42EZrjMjJzvFxkjmclZoFxWSUsi8zKFuWk8eKdKPRfu/2CD4UNHRr0"
    "hxhozPXIplw2dr5r0BzMtlBBe4aXeG7rwbkg6C2Yzixl3uIQyfWWD5K6lmLdMMmRufAFGV"
    "knt5/u/gaRCeEvExEVAQsJaDydKdNKMEABSxN35GNujiZBz/JQaRur3Qucyargdtt4JO22"
    "PXfNuSuf7y5tHJUPwCChdk6MgkAd3gEFETDCHpNYpjB/L5VZokoFUjjjgtjJ3PPQYOiOZc"
    "R1fIJdbFUdtbCLrZ45tnIiNHPJpYwZFUu47GhmmNwBoupw2UOBwdzPWAVd2FmhRSxMKy2G"
    "YNWlvr7+iJMMlPoW21s+c8WvPn96/QYCKQMIDOJ6iQe4c9d3HvqTIwO7B1dcya6G3yxJwD"
    "tQYP8BnUAOkpiO79Hz5xacLS/LfTe+0twfR0OjfetvHYy9MJNQGEZMEHSuNuF/qwT7W0u5"
    "35plftGBKgvAlNP1kkBwG9//ZWgcnpaRhtPl0nA6C8jEi10DkCJNpQGZCzbGhiNlAU8420"
    "wjHZXRSEfLNdLRnEbaJQt+m2QBT9Wyaqrtq5dPFOB4XzEmyqUK7uDiGxqTLzOGOeZB34Xw"
    "E5mAYNxWO5kIx3H1gPYh1re3xmbg3NfBXI5gO8vci7/YCNwJrJVivYL3GKxAY5xhD39e7+"
    "uUMaIlzKtYqm3VNsEEA24Gi6tcEcNGTAkMFRlyHWHNNx3di3xXw0gSkHRAUC2tvpaN9+0u"
    "1yszOYpfo1e3EfaDp6cihHO60pSzENM8zmV9LuW6SwOUZPhW0gDmJYW/brqrSFXpINSU8b"
    "RMQR+ZPYNuGVcnuk6HV8n8FZGha6YFaPVTAlNhv/XwAA0DTNWQqI4j8pGL/qqnXXl/eYck"
    "BpqSZYtLdAkALOsCIKHzD6w70G6jAWm38RVUu20cCAaf9fzDjzI4H4zYE5J0pCbdmPZq9T"
    "l3ZGsr3Yt8hL3iMAS8ndnWnJxRuKe5mZRYpkAHBTdVOyDoOJn9cXUv+s7bocSZWw7eEHgn"
    "4L98vvl4YdwgzR416bNE28p0JIdwajwJFkFCFpapeiAbfFjODE1j93fhq7FldM7aC0uxK3"
    "7sih+/oddTlIiyXC7S7Phcjs8FLVWWzQWSKnPZ68QQAjc7+4fNlstVTVR+nUTssRoJK2Dn"
    "mtyvPOeR1YbJQaYxi3DYaB6TAI4EfgxLN3sW2Sj1rgiHLU/YNubfFv0fy0eb6pfdw60X5q"
    "RUJwS6BdPrLY5+TFf5wGfyJPTngc/1OPAge5QINlQx06Bezsm7SCoIWrFgsc/DOmFAbdT/"
    "gCkFRyA8rBGqiHtBrCBUAAJ0+RVEBvNp2G0uVDaiWBU+2Oy1TS/wcBc37OKGF2FvdnHDy+"
    "WzUXoLs9Ir3h4UaDbi81hlVJPNEGaUel2z/IGH6Zu5zlnnXxasVfYqkDzdZfa8NUOEbioH"
    "xi7a8mYh9R/RkGz4omMrN13TnlqH/258hZn/5+31lXFF6sTVWYirfVclMCv6NOUdliLVyy"
    "q0YEa6IAtVq7YUoYnpBsgUiF4eMDHsq6rIPGsQ+OM/V9Sj6A=="
)
