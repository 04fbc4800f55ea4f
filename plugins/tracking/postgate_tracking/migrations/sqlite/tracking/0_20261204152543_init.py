from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "tracking_links" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "batch_id" BIGINT NOT NULL,
    "link_index" INT NOT NULL,
    "url" TEXT NOT NULL,
    CONSTRAINT "uid_tracking_li_batch_i_14ea34" UNIQUE ("batch_id", "link_index")
) /* A link of a batch as it was in the message (HTML-unescaped), by its index. */;
CREATE TABLE IF NOT EXISTS "tracking_hits" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" REAL NOT NULL /* epoch seconds */,
    "kind" VARCHAR(8) NOT NULL /* open or click */,
    "domain" VARCHAR(255) NOT NULL,
    "batch_id" BIGINT NOT NULL,
    "recipient_id" BIGINT NOT NULL,
    "link_index" INT,
    "ip" VARCHAR(64) /* per the ip privacy setting */,
    "user_agent" VARCHAR(512) NOT NULL,
    "bot" VARCHAR(16) NOT NULL /* empty, apple, gmail or generic */,
    "rule" VARCHAR(64) NOT NULL /* the machine rule that fired */,
    "recorded" INT NOT NULL /* whether it became an event in GET \/events */
) /* One GET of a pixel or tracked link, kept whether or not it became an event. */;
CREATE INDEX IF NOT EXISTS "idx_tracking_hi_batch_i_f19643" ON "tracking_hits" ("batch_id", "recipient_id");
CREATE INDEX IF NOT EXISTS "idx_tracking_hi_at_9c487d" ON "tracking_hits" ("at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWV1vm0oQ/Ssrnhop/Qjx171vduomlhy7St2rSlGF1rC2V8a7W1jaWFX+e2cWCAaML2"
    "6jlFZ5MsycWZYzy5zZ9XdLB9Rdc7F8NcML5o25WFv/ku+WoBsGF/sBp8SiSu260aTp3M/F"
    "OD6AQ4Oeh2jU4F1QP2Rg8ljoBlxpLgXG9AmCiVwQSuZUuytCQ8I1+YY/gugVIxsWhnTJyI"
    "ur2fX4ZSRgAKqYd3JK5luAIs5jd6/weZ504YE4r0cfOhL8S8QcLZcMIgN4wO2tZYZ1uIcA"
    "fJhj8Nbnz3BvLlmIQLxVa2fBme/lWI4jjd3RW2VsA74cCf3OYPGV5o4r/WgjMrza6pUUDw"
    "FcaLQumWAB1QyfoIMIuRaR7yfJSemPXyODxLPcifHYgkY+Zgyj4wlkNstxJtOZ82E4cxyr"
    "lM00YicLicmVAlcCTDU0BCxxCi//se3z86795rzTa7e63XbvTQ+JRF/Z1b2PJ5OxFQ9lOB"
    "tdjiYznJCE5RavRjTcmxiqaRxlkpGxv5u9+jnYjfr/TKS8H0pFashykX0sf1kyMvJ3PpcS"
    "/ZXc54P+Jvbts1a31TvvtB5If7Ac4rrMaxT4ZUJn7K6C0QReoBIm+AdSeYCn2fCTWZGbMP"
    "zio2HyX//m4qp/8+K6/+nEeLaJZzydXKbwbAFPLsbTAVCNpXyx3iknaJiD7n2jgeeUPNKW"
    "Vdiya2NvihYqQJ685I3x/fK6DBdXXB8Q7gRQV7hXoHn1dHsqGLkczmJ1VfyO+UQGRMfNgh"
    "HeU7JmCtR2ZfQSvUJq1N85c2GuhArCvjKhy8L9yGPvUe6CPueFPGAuVxyi8R6QtxbVsaQ/"
    "a3jjNJzqMvvvfEkryI/hBfIXiG9OvbOYktCshgwI98Li13F06Xs7/TgYD8n7m+HF6MNoOs"
    "kVu9iJJjBwbei4GfbHBVGB4rBnlV+saLCf5hTfZFmxpGICS4frc3ddj2YoyHeOz8RSr+C2"
    "d4D1VF56JwUdSRw2evIke3IDDzqG5iyiyUTXryg5du12uwa/gKpk2PjyHD+3/L+x5c8J61"
    "EJKEY+J+GP23clrUnDyH+0bRdXxxTuGP1TRftpeLQUtNV4QsYVUQH/St0tNCRaJzuHY2t5"
    "p1WjlHdalZUcXYVtbsgCB/ZGYk//V817PurpRNOynkQy22d2DZ4BVUm08RUkUx5FcQJvLr"
    "cW2yi9PSWwIfZhpCW0UGZ/aebG3Z9Z3medGrSfdSpZR1dBKiPAHMF6im8w7ea8nborDrt7"
    "nC6UF6rJggfMa0ZJgSZDBh7b15pI6TMqKnuTh7AC/XOIa05jYqXHJeVzEvw/BE9cXpu7X9"
    "9zDqbTce64bTAqnqd9vB4M4aM4ye89Y2H9rYds9z8AKHiRGA=="
)
