from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "webhooks_attempts" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "delivery_id" BIGINT NOT NULL,
    "at" REAL NOT NULL /* epoch seconds */,
    "domain" VARCHAR(255) NOT NULL,
    "webhook" VARCHAR(32) NOT NULL,
    "url" VARCHAR(2048) NOT NULL,
    "event_id" VARCHAR(64) NOT NULL,
    "status_code" INT /* none when no HTTP answer came */,
    "outcome" VARCHAR(16) NOT NULL /* delivered, retry, rejected, failed or refused */,
    "error" VARCHAR(255) NOT NULL
) /* One POST made (or refused before it was made), for the operator log. */;
CREATE INDEX IF NOT EXISTS "idx_webhooks_at_domain_b41cf3" ON "webhooks_attempts" ("domain", "at");
CREATE INDEX IF NOT EXISTS "idx_webhooks_at_at_1457ea" ON "webhooks_attempts" ("at");
CREATE TABLE IF NOT EXISTS "webhooks_deliveries" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "webhook" VARCHAR(32) NOT NULL,
    "url" VARCHAR(2048) NOT NULL,
    "event_id" VARCHAR(64) NOT NULL /* the event id, for receivers to de-duplicate */,
    "event_data" TEXT NOT NULL /* the event as the events API returns it, in JSON */,
    "status" VARCHAR(16) NOT NULL /* pending, delivered, rejected or failed */,
    "attempts" INT NOT NULL,
    "enqueued_at" REAL NOT NULL /* epoch seconds */,
    "next_at" REAL NOT NULL /* epoch seconds: due from then */,
    "lease_owner" VARCHAR(64),
    "lease_until" REAL,
    "last_status" INT /* HTTP status of the last attempt */,
    "last_error" VARCHAR(255) NOT NULL,
    "finished_at" REAL
) /* One event to POST to one URL, until it is delivered, refused (406) or given up. */;
CREATE INDEX IF NOT EXISTS "idx_webhooks_de_status_dc78d5" ON "webhooks_deliveries" ("status", "next_at");
CREATE INDEX IF NOT EXISTS "idx_webhooks_de_finishe_21654e" ON "webhooks_deliveries" ("finished_at");
CREATE TABLE IF NOT EXISTS "webhooks_signing_keys" (
    "account" VARCHAR(255) NOT NULL PRIMARY KEY /* first domain of the account */,
    "key" VARCHAR(128) NOT NULL,
    "created_at" REAL NOT NULL /* epoch seconds */
) /* The HTTP signing key of one account (the domains that share an API key). */;
CREATE TABLE IF NOT EXISTS "webhooks_subscriptions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "webhook" VARCHAR(32) NOT NULL /* accepted, delivered, permanent_fail and so on */,
    "url" VARCHAR(2048) NOT NULL,
    "position" INT NOT NULL /* order of the URL within its webhook */,
    "created_at" REAL NOT NULL /* epoch seconds */
) /* One URL of one webhook of one sending domain (a webhook holds up to 3). */;
CREATE INDEX IF NOT EXISTS "idx_webhooks_su_domain_3cebe7" ON "webhooks_subscriptions" ("domain", "webhook");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWm1T2zgQ/iuafIKZtANOCFy/AaUtdxxhIL3pDHPjUexNosORXEtuYDr976e17PglMb"
    "VzgRrOn8DaXVl6Vt6XR/neWcB4JsSdfHusFMx91XlHvnc4nYP+Z1XYJR3q+1kRDik69nL6"
    "NjX6kZSOpQqogzNPqCdBD7kgnYD5igmOZkMO5Gp4MyJz6gLZEQEJYBJKcMkYJiIAwhRZUB"
    "mJd7tEDxE1AyJ8CKjSD56YvsU3ucLRr2J8us1JQ86+hmArMQUtD/TUt3/rYcZduAeJj7f6"
    "xXPKeLRZ1dHS2+gvqvl39oSB5+ZgZS6qRuO2evCjsRM2PefqQ6SLWxnbjvDCOU/1/Qc1E3"
    "xpwHjkjilwXDDgG1QQIro89LzYIwngZhOpill9xsaFCQ099BFamwWkYx3bvhyO7JuzkW13"
    "VvyXWGTQj4ccwdH3eqkyAmCKS3jzm2X1eofWXm9wdNA/PDw42jvSutF6V0WHP8xiUrTMVB"
    "Fm5x/PL0e4IKEPmDmCOPAjsqGKGqvISSn6LnjsGwQPdl03FAx/7o8E/ccckgykHkk/klfm"
    "ktQFVK0i/8ETtAR4o17Ae4L6zUG8A75wZkSCBtiVxWi0HvxHcHw//HxycUaurs9Oz2/Oh5"
    "c44fxBfvVSIQ7pAaYiOK7Pji8KKKdRKY/06YwGJSd8aVEAW6+6OVBXP9xzem97wKdqph+t"
    "g4NHAP/r+Pr00/H1jtbazR/fy1hkGVke4zjj1QE5Y/IKUe5ZFUDuWaUYoygPcRh4deCN1V"
    "8htNZe/6jKCdZq5Uc4EuYBhm/A1dpsWI5y1uYVQj3oVwB60C+FGUV5kKWiKpQaQRdWcS4t"
    "OQpWG5UccYX31PmPC11wL2bACRfk02h0RSiXCwiIgwjUKUas/f5h/6g36C9rkOXIY6XHap"
    "khQuWI+Rq8y891xqTJxzqpRcHt6rZGBQ/45x9wFA5MKPN0m5N2PBXRz30B+4MKX8D+oPQL"
    "QFEhzASBCGrFmMTg+TzR6bysUgRbzMldps3BgTF17hY0cO0VibBEme6qaG7NiyOU02mEHG"
    "4Sd7AkCN7HvVFnLX2wlHYr8gfx8WZQg0GIUhJRwnT9+i8GpM/XF10ScsU87PeZJLkPx/AB"
    "O/29wS5+LlMt4ST015MJW56/Cq9gwj9qc7hXdkIuTBhncgau3bIMzWUZ2uarbb7a5uvVQN"
    "s2XxtUqUiom7TJXEOxB+AA5keJCdSFN27oe8zRK92kRt1+l2aQxaC+6o+RTsGP+SOxeiEe"
    "oZIsHyQ5vjrHRiIMuNSFTJcwTn6/MbTjf+IxR2dfotQ5lzF3maC/8+fxl90cq3kxvPyYqG"
    "e8dXoxPFnbS9f5YlKLZ+wlfOAuwlbTRbFZN19KmuYOq0jT3jWjp8ve81WkNLImz3eFsve0"
    "xebWKAvgek+hKe1XMH3kiqRg196V1LwrSfqrOphnbF4S3u+IGwKZBGKOCYA3An4PqARbLD"
    "RadcJ6wWyj2P489GhjeGgDWcRY1DrsBbsND3zDwH7qU02lssuKldIEWbBqMucf0fxmqURM"
    "onoSV09o+nOh50+hEX61yea8Vcs4V+FfsjxknVhSsGtjSUksaQy7f8OmXO/9Dyjh9zPybk"
    "WGXxoT+w4eKnL8Ix1dTMAxpkSbYtRBGp46jtC5iexgCDJEKra3VBGpv3gt51GHqy12V8n9"
    "bU78c1a/lK+PX1UnaGVMthOxnoK417sJdE4w4CVpIrPyXxjKyun7O3OUqzoiVm8y9bNh4t"
    "i3qtCeWqucNbBWSE8nAMSjbt7Im72knuuXNVnNSSHhOAvPuiSS1aicRjJGNe6KP19fJBE+"
    "nip5lIZ9S8LVDl0qzITeKQl9ZK57a9LIFuet95vz5E6rvQpur4JfQEZpr4LrJRJdKoEf/b"
    "ArcyHgQ6CDLV474XWALkNdIvEXKZsUVO2t8Yu7NfaFZEmerEgrZU0ae++iAXAhSJoEzKYL"
    "pmY6XzIlSeaDfX5WqS1Z/xcl649/AYqDMd4="
)
