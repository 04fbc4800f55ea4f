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
    "eJztXP9z2jgW/1c0/BRmSIaQpM2lP7WZdrd3bdpp0tubaXZA2ALrMJLXEiHMTv/3e09Cts"
    "HA2tySiJZfGCzr2fL7SO+79GcjpCrqS5qGJ9dyInTjivzZEHTM4E/pXos0aJIs3ME2Tfvx"
    "Yv9ugP2VIegrndIAHzygsWLQFDIVpDzRXAqk+lVOyZiKGWEPDIiIHBApGBlxEZIBi2PChZ"
    "amScU8YFeEklCOKRctopgIWyRJ5QMPWUpkSjQdtkh/RiI5SfH1oQzg/VwMd/qme0HhEXQI"
    "XbEppDNyhBSK0JQRITVRScw13tN8DA/WEeMp6U+CEdOEK9JunuBoJ4L/MWFdLYcMeqQw5m"
    "/fGnYI5mOAVihkG1w80HjC8I99Cv7DD2n8/jv8gz/skSl8AF4mo+6AszhcQJcb8Ex7V88S"
    "0/aGD98L/c70xRf2Acl4MhZ5/2SmIykyAm6nxZAJllLN8A06nSDKYhLH84nhgLefl3exoy"
    "zQhGxAJzHOFaS2A8jbGt3uzae77u3bu263UZpHjqIA+LwpkALnIMcZiQwY4hCO/9HpnJ29"
    "7LTPXlxenL98eXHZvoS+ZrzlWy+/28Hk3LKPMjx7/8v7mzsckISJblcCNnw3NFRTS2XAKK"
    "ytDNVFBK4jmq7mf06xhAF83DIGjuObQHANOQr5An0KGMb0sRszMdQRXHYuLjaw+N+vv1z/"
    "+vrLEfRqLjL6Zn6rY+8hzws8Lq6XymwuEvnM6cZG2eREUwuvUaSBsAOZArKJxzNsUMvisQ"
    "pMp50KKJ121oKEtxYxysRYVXwyAq+xQVYjLmTEZiVsXhE2TvSMDOCyIN19WDK5MqmuGHKa"
    "v1YOzwiJ0jTVbhng0iBHyH86a7YIS2QQAWDA8FC9Im0DjdHgFZF5Qp2Sg2X0fY2l4/p7vX"
    "KmEdVkShUxNiQLr0jIYv7AUgZCTiYwyLA7H8M2i+a8ypo5X79kzpdXzArlsmmxrFIrO1wn"
    "7b03otB+HYwKNhQ29GkwmqKjUbojO3Jd3/KtcWe83EIFHRpe4ndbC845QW/Ra/gs47ix2k"
    "nK71d3lIwn0k2AqKK39FvEBPglQcyBkBz9EkmlmySmSpOU0dAIt0X3BsUYQJm5MrC00Aca"
    "wkybgqMCuilgShFFp4Trk5LT9BQvXOH3HLwYXxag317MLkBoLM/gWE7BeAuo2k7n7MJQQ5"
    "EBmpDWtNUWyLw21xZMMme2xTAuEDxzeWPkj5A4VO/WTI7URLG0C0pFrIBq/TpZpPLaYvsK"
    "Qz1+jUN1MCEwDFzPYKK3WjDtdpUF026vXzB4zyfb4R243ZOUrbEc3N3qdsPAUtQNsToyp6"
    "qRsy1y+/HuM5jbIfxlIqIiYCEBb0lPlGklGNwEQRj35WPuymYB0/Vh1l287V7gk6z71uuZ"
    "aEavZ7+76UIdX++ubQw274BaoXlFjHOBM7QPzkUAhstjEssUnj9M5SRRlYKw+MQVcVczqU"
    "ODofsss3LnX3CIy/oknX22aH6CuKxbQkuTXMqYUbGGy45micl9IPKHyw1cMJg3mougV/ap"
    "0CJWpqRWQ7BpUn/69AEfMlbqj9jO8qUpfvP145u3X45ODSDQies1dskh1HeI7j05MjD6sE"
    "WUHGj4nSQJWAcK9D+gE8hxEtP5PHr+vITT5VW57/p7zf15JHV2bO2tk7kVZpIRU4zzoHG1"
    "Df8vK7D/ci33L5eZXzSgqgKwYHTtEwhu4Md/GxqnL6qshhfrV8OLUrTBWbE1ACnSeA1Iyd"
    "nIvNiAJ5xtJ5HOqkiks/US6awkkQ6Jhp8l0fCOp2pdJZa916oeKMD+XcWYqBYquIOJb2hM"
    "rs0o5pgHI+fCZ2sCnPEs2D/3q8d0BL6+nTU2e+euylmF3bzmXvyLzcCcwDorrHXgQ4wW0h"
    "ifcIQ/b451yhjREp6rWKptxVeCAQYcDBZmcUUMGzEkMFVkynWE8cZ0di/yUU0jSWClA4Jq"
    "beVWVX/fjrKWx5lReBxDj2AKIpyLVSo5CzHM40zW5xKuhzBARYbvJAxgc591w11FKq+dUF"
    "MCpGUK8siMGWTLvLJh4GS4T+qviEzdrNJ+ppPoPJHkGxL+GCIfuBhtKgvP71c3SGKgqZi2"
    "uEaTAMCyJgASFksMrkivhwqk18MK6l7PGBAMLlv5RTeawPdBjyMhSV9qMojpsNkqmSM7e9"
    "O9yHvYKQ5dwNpZbs3JGYV5mqtJiWkKNFBwUM0TgoaTGR9X92LkrB1KnLrlYA2BdQL2y9cv"
    "H14ZM0izR01GLNG2qi2SU8xtw5dgEiRkYZWsB7KhC68zXdPY/V1Zcb6Ozml7YSkOyY9D8u"
    "MntHqKK6Iql4s0Bz5X43NBSlWuuchJfOZyox+DC9zpH592Ll2sKhP5LRKxRz8CVsDOmtz3"
    "nvPIasPkYKIxinDa7pyTAD4J7BiWbrelol2pJhm7rQ/Ytst1yT9i+mhb+XIo+t4zI8UfF+"
    "jj4xfwGdOlkF35dnUHaPxYPRJbroNCk50MUjk2Yv/jfwjWY6ty3NSF3YzdDx4aj8HnYI8J"
    "T5nqUt3rrQzJ7vB99+KIovORgqAEdcVjZpNcpqxTytHxJDEFYzYbbN8LrpQbidkzSwQbUs"
    "0fGAnAS2L/d+j14G383N7GTgLf5TXhY/n4j5zQzaSX2XwpUSrkCXUTgQWM5FBwVblyfMem"
    "shGqdbDICLwGIlMXfdz2wwYsZSKApwZyPAZlwBJqBrl1ofhFpbqfiw2FPxflyh+rhFYohk"
    "3liTnRE9YnZi01CxTdYiBUKCuZxowc4ckUx3KChVksfUDdb8u3m9WQeZqiRdD6JmpaN0Ox"
    "SLdvmYrMQvItVbGQzsuMvZoJvQW6PYKGDuamLLRxc4wLogT2K1iy5iwY39Dyx6v6nMohln"
    "7e0nFiRrjKt1rqVN3DMuHSZE5dzdnCPSsDmmYpHzKUmCQBcUgiild5JYoZDVGx1POCFEy5"
    "uLeBJgPZScKUTlW56mVnb6mRvYFlVk7YuMaDl3TwkjyP5R1yMjWVltmxTxiGdo556AwKHL"
    "433ugPWG+ysAWlIM33aAOK+YQtbO1FOq9RWjTodFaU2qc6iIpLxUQNaBCwxPPd5lpquiLt"
    "tgmvjMRrqLKwmtpChD0LFOF8+0Z1JBzFvgARURFiwB4PuwTJlofvw1QmCQsrhg6eB561cZ"
    "4NAK0N83gL0RS0P3NHaM1I/gG+wpKd9lVz6RTJvAYnG2nh2KRMzcwPPSNKoqPoG07+BBBu"
    "UfavDhvcztVCjWBBxSDBJ+e2H1Ei2FTFTGvMTC5a2GDhAbWBdAy+OnwC4WETT8FyKCsScy"
    "DASky18sytXb6oaqhgU1Wn3VRk7TseHkIHh9DBIXRQg8v7Ejrwic9G6K3cLLRhS3iBZis+"
    "z0WGn2w+7VTZdQ+9Npx6UNp5ryb9/7Kg1m7EAsnTTeZGo6bVlZUwWQe/sCMLI+9bbrTfyU"
    "zXdFirFMD195j5/7z9dGNMEXMYqEXAbUn2pV62aNPUcAgLVF57HaWsMuaTCmvBN1ejCA0e"
    "NlsbmQLR/gFTPOfSN2T8cQJ/k+mIpW8YXbc/sdChVdkhnBqiii7hXX4oacRoqvvwLlccax"
    "+ERQEJRsisp9br2eZu1r3XI5GUo+bqQxL+zof/daXstwaK5e4hHeytTyenol7VZkbgccms"
    "mcX4hQTtMan0VcLDKy1H25kIOzHLcFh1+O76Hxy8ihXJq+TK+nOs/T8Aoq5g6Zyevzy/PH"
    "txnsmTrGWTGDnkbRet2Uz1+WY3LUaNrJath09OtH/gLNsxvqHzrFbt9/8BPDIZ7Q=="
)
