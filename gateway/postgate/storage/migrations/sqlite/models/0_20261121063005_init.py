from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "batches" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "message_id" VARCHAR(255) NOT NULL,
    "response_id" VARCHAR(512) NOT NULL,
    "email_id" VARCHAR(128),
    "idempotency_key" VARCHAR(255),
    "tags" JSON NOT NULL,
    "content" BLOB NOT NULL,
    "testmode" INT NOT NULL,
    "deliver_at" REAL,
    "created_at" REAL NOT NULL,
    "enqueued" INT NOT NULL,
    "accepted_logged" INT NOT NULL,
    "recipient_count" INT NOT NULL,
    CONSTRAINT "uid_batches_domain_ff441b" UNIQUE ("domain", "idempotency_key")
) /* An accepted API call: its content stored once (zlib-compressed) for all recipients. */;
CREATE INDEX IF NOT EXISTS "idx_batches_enqueue_a1fb47" ON "batches" ("enqueued", "created_at");
CREATE INDEX IF NOT EXISTS "idx_batches_created_ba19f8" ON "batches" ("created_at");
CREATE TABLE IF NOT EXISTS "events" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "event_id" VARCHAR(22) NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "recorded_at" BIGINT NOT NULL,
    "event" VARCHAR(32) NOT NULL,
    "recipient" VARCHAR(320),
    "message_id" VARCHAR(255),
    "email_id" VARCHAR(128),
    "tags" JSON NOT NULL,
    "tags_search" VARCHAR(1024) NOT NULL,
    "severity" VARCHAR(16),
    "reason" VARCHAR(64),
    "event_key" VARCHAR(255) UNIQUE,
    "payload" TEXT NOT NULL
) /* A stored Mailgun event; paged by the keyset ``(recorded_at, id)`` within a domain. */;
CREATE INDEX IF NOT EXISTS "idx_events_domain_d0f5b1" ON "events" ("domain", "recorded_at", "id");
CREATE TABLE IF NOT EXISTS "queue_jobs" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "queue" VARCHAR(64) NOT NULL,
    "batch_id" BIGINT NOT NULL,
    "first_id" BIGINT,
    "last_id" BIGINT,
    "available_at" REAL NOT NULL,
    "lease_owner" VARCHAR(128),
    "lease_until" REAL,
    "attempts" INT NOT NULL,
    "created_at" REAL NOT NULL
) /* A job of the local queue, leased by workers. */;
CREATE INDEX IF NOT EXISTS "idx_queue_jobs_queue_019b8c" ON "queue_jobs" ("queue", "available_at", "id");
CREATE TABLE IF NOT EXISTS "rate_buckets" (
    "name" VARCHAR(128) NOT NULL PRIMARY KEY,
    "tokens" REAL NOT NULL,
    "updated_at" REAL NOT NULL
) /* A token bucket shared by every worker (on MySQL also the lock row of event writers). */;
CREATE TABLE IF NOT EXISTS "recipients" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "batch_id" BIGINT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "email_id" VARCHAR(128),
    "address" VARCHAR(320) NOT NULL,
    "name" VARCHAR(255),
    "message_id" VARCHAR(255) NOT NULL,
    "variables" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "lease_owner" VARCHAR(128),
    "lease_until" REAL,
    "next_attempt_at" REAL,
    "provider_id" VARCHAR(255),
    "error" TEXT,
    CONSTRAINT "uid_recipients_domain_28ec9d" UNIQUE ("domain", "email_id", "address")
) /* One ledger row: a recipient of a batch and where its delivery stands. */;
CREATE INDEX IF NOT EXISTS "idx_recipients_batch_i_04ecb9" ON "recipients" ("batch_id", "status", "id");
CREATE INDEX IF NOT EXISTS "idx_recipients_batch_i_e8d3e0" ON "recipients" ("batch_id", "id");
CREATE TABLE IF NOT EXISTS "suppressions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "list_name" VARCHAR(16) NOT NULL,
    "address" VARCHAR(320) NOT NULL,
    "address_key" VARCHAR(320) NOT NULL,
    "code" INT,
    "error" TEXT NOT NULL,
    "tags" JSON NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "reason" TEXT NOT NULL,
    "created_at" REAL NOT NULL,
    CONSTRAINT "uid_suppression_domain_aeef58" UNIQUE ("domain", "list_name", "address_key")
) /* An entry of a suppression list; ``address_key`` is the lowercased lookup key. */;
CREATE TABLE IF NOT EXISTS "tags" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "tag" VARCHAR(255) NOT NULL,
    "description" TEXT NOT NULL,
    "first_seen" REAL NOT NULL,
    "last_seen" REAL NOT NULL,
    CONSTRAINT "uid_tags_domain_d91810" UNIQUE ("domain", "tag")
) /* A tag seen on accepted mail. */;
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXWtT2zgU/SuafIIZ2oHw3HZnZxKWdukAaYHutNPpGMVWEm8cy5VlQrbb/76SbMeyYx"
    "kb4hCMPrVI9/hxpNx7dXSj/GxNsIUc/3UXUnN0iaetN+Bny4UTxP6z0LcFWtDzkh7eQGHf"
    "EcZ9boVEG+z7lECTsuYBdHzEmizkm8T2qI1dbtxxATRN5FFkgc7HU2BCx3kDbOoDE7sUuR"
    "T4FBPWiV0TgY1/Hbv/ysQTjyDfR9YmGGACGAQQZNqezez91/zGFjbZnW13WOM9Atf+ESCD"
    "4iGiI0TYnb59YzeeQNvl3baFJh5mlzdnxhjNWt+/80bXQneMG2GLXIYPkMWtTYIgez4D0h"
    "az+5b6mwO9sTGwkWOlhsUWUNFu0Jkn2rr28NSl74QtJ6JvmNgJJm5i783oCLtzgO1S3jpE"
    "LiL8lqyNkoAPlRs4TjSo8eiF75yYhO8jYSw0gIHDB5yjwwdI2lqGcdG7Nq5Org2jtTAZYo"
    "Q0dlETGyc+kdij+oKAIX+EV7+127u7h+3t3YOj/b3Dw/2j7SNmK553sevwV/gwCVvhpQRn"
    "p+9PL675A2E2W8NZzBt+CQykMESJYUvYT4Y6PQLHI0jy+U8QmTFgL5cdg5jxokGIG5JRSD"
    "5lqxiGCbwzHOQO6Yj92d7fL6D4787l8V+dyw1mtZkm+iLqaod9nHPJ8bCPIBwiI2+mq3lO"
    "ozTX5bhm7s5jN61KdgbWQLb3d9ol2GZWSrZFX5ptxFyBU5FqGfMgniMnvZ4077SPStDMrJ"
    "Q0i740zdkoXIHtHGjzSK/Fk1A49BeZ/nDVu8hnOrbP0GvZJgX/Acf2FzKUZfmQ1u+DwDU5"
    "haAf2A61Xf81v98frZrYLyCb88OvPPH9H47M8cZ550uW/uOzXldQhn06JOIq4gLdzFBEGW"
    "5enuhCMssfDwmUGZL+jIaZ/TNz6EXJX8TknHbGevf0onP5dc77ZBZ1nfUu3ndzmO9+vT7p"
    "ZD8EyKd8dZRDPcYOgq7isyDBsuQzXF3cz1tWTH6vd5Yiv3uaycMvPp93T5jbFwPBjGyaSs"
    "+ldBw59i0ifMW0wPg7B0PFmigNyzA+4Ljn5+ILCP+z97l7dgI+Xp4cn16dRg4nnt5hZ5ro"
    "y5POWdanJGvTKkynYQ9k+hk5lmVQLUsEFZyIDNNOpIITiXUiw8HDYWXac9Ca/QrszwU2xm"
    "mQl7Qola0c5P0y17KI364rUw9lrvbO3uHe0e7B3lzdmrcUiVohvVw7HIwl/Yo39KE5nkJi"
    "GQs9uI1Vtotdk/Yk2wJdOBQs8TfiDxcpxye3bGwUqvK8b6tIVUbcqqyoHAu652y9PAxcIM"
    "BvgccfDvRngI4QYEs6H1Fwc7PBJg8mlohMW8C2Nm9uwNSmI9sFEISSXY6mXMstciTlBdU4"
    "ERGli4aCs5aK11QqFpOjqtgjYRooqrXLaGpttaTWXlDUtB6/Co045XLK+5MMcHXBuSG+Je"
    "NLKjuShk7y3TJeZFftRXYXvMg8k6y2ByKBmicS77a3S9G8XcDz9tps7a011bV4bb3XtJK9"
    "Jr3toWR/1dsenFrDR5CYoyqTPgNbXcBs1UV8Ztpvt/fKzHtmpp74ojNNt89yDGLTSturMq"
    "aBDuagDM8HapYPFhMT6ONKy5sE0Tx+D8rM4wP1LD5YmMPhertijUAKtBSWn1YtqT8X8eDM"
    "wTAnFblGd4q1owRpxBKmgNTrky/XxcEwtRcdm2cj5Nrovp/4NtQH3FdIv3L3VpH6K7azjH"
    "9wv7QCzGwBHggZ1sEmdIC4xBZwmFMMFdopJmNE8uqFK4LLqLbiAuLZb1lezV9Lq7broayo"
    "Vdv5mJWNBnNAI9xU3QFXfE8gd1VaNMVllFYRH6wiDmzi5+9IFJEvox5E/rrllE/CvQMfQL"
    "0E0sw/lPls8C1du5QF6uqlMtVLIl0y8JRxUiWMZmDNW7zWoj6GrAUutZ1KUzuD0xWQJSY2"
    "pBRNPJqj9ir9twzRpUlZx6xLSmudu2uiBlyyQegG5hipSsHSBltFigAfUKMvbEtrAhSPEd"
    "/x4CDgs/gTruW5EB2v6MEGdsH57OrTGWBXwbEEMAYET7kkIAQ/MCWMX+Jv5mkH9dzkfo1B"
    "KSKIfyuE39h+OYvYNdIzlxh21aKBGP6cwFDgxRKI9mBlom/gWQ8JFmmYpnrdg0VcU6OKFX"
    "J/caiYn9tQLlD0XOaOkTVkjpo55DcAJic/cO8MgdCgAHQtMGW+GImjJKLvEc2AT1lHjqq8"
    "tKvec+6EXLgBLYsfYpFz9oQso7Fr08CPxWh++oTcqwXqtRWotYL6hFqSLjfWhWvPOoeV5I"
    "woTFRgWYI0cDLXUvC60nXYWk9ifVTQM+f6FhKbv32lctcUaD1qXvltG1PzmqTxpUsw54gG"
    "TvzlV2Bq1X/Jqr/eH9T7g42RzVKpHrqjRvTZrypT5mA15yU49wi+tS1EKiaAGVjznEk9C3"
    "NCcI7PVtdwzwFNIPgFFXBfBZ44B5kxpNDhMxZbRUq8n9iWPx8auZTMQolcwou1wltwcxMp"
    "EfxLGDc3wPaj3dQpIqYo1nYwHgceP4sj92To5V79Hm2eX9WI1/XSpRcEei24r6XgrjXf+k"
    "NL6jNSekkggxrIdA2LWa35rkDzlX18daYf9cXCF8i2mXvcqjI2mvnHrD7nevqlSTMrTvDX"
    "bbKuIsPXR0c8dihqkdHH7O2r+OrYfoWHRUiB+DmmHqqTDNTO5ZEnGbx076Kr619CweQ1HC"
    "okmqhnq0iaiSNKqTp6OAQ+Qi7A0i9r8bKb3Hr4QuN7BBMG1tqI1kaehWdZzQ+rVCE4Mtfs"
    "lmNXfrIKyUkG1gi2V52hhAcL8DBRKUNJw3SGUupL2fAhTKdQmug1TwU7iNjmKC8VjHoKU0"
    "GY2NyXDKq5fsQXFvPyuJeSxD1SwFOnZ7eI+LmBTZ0+SJBGBLUVpBD8Q1WB4ci8gezubJfR"
    "95lVwTmjOfq+4sfs1EKp+qfsVqCVPk3sWpoq+qTB7Nf/xyScAw=="
)
