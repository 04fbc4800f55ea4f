from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "dashboard_counts" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "dimension" VARCHAR(12) NOT NULL /* domain, send, provider or tag by hour, or one of the daily ones */,
    "value" VARCHAR(255) NOT NULL /* the send key, provider or tag; empty for domain */,
    "bucket" BIGINT NOT NULL /* start of the hour (or day), epoch seconds; 0 for sends */,
    "kind" VARCHAR(24) NOT NULL /* what was counted: delivered, opened_unique */,
    "n" BIGINT NOT NULL,
    CONSTRAINT "uid_dashboard_c_domain_e9ae5c" UNIQUE ("domain", "dimension", "value", "bucket", "kind")
) /* How many events of one kind fell into one slice: a domain, send, provider or tag, by hour */;
CREATE TABLE IF NOT EXISTS "dashboard_firsts" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "digest" VARCHAR(32) NOT NULL UNIQUE /* hash of domain, send, recipient and kind */,
    "domain" VARCHAR(255) NOT NULL,
    "event_id" BIGINT NOT NULL /* the stored event that was first */,
    "at" BIGINT NOT NULL /* epoch seconds of that event */
) /* The first open or click of one recipient in one send: what makes unique counts unique. */;
CREATE INDEX IF NOT EXISTS "idx_dashboard_f_domain_d793c6" ON "dashboard_firsts" ("domain", "at");
CREATE TABLE IF NOT EXISTS "dashboard_sends" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL,
    "send_key" VARCHAR(255) NOT NULL,
    "email_id" VARCHAR(128),
    "subject" VARCHAR(255) NOT NULL /* from the first event that had one */,
    "tags" VARCHAR(1024) NOT NULL /* JSON list, as first seen */,
    "first_at" BIGINT NOT NULL /* epoch seconds of its first event */,
    "last_at" BIGINT NOT NULL /* epoch seconds of its latest event */,
    CONSTRAINT "uid_dashboard_s_domain_8da6d8" UNIQUE ("domain", "send_key")
) /* One send (a newsletter: Ghost email-id, else the message id) as the sends list shows it. */;
CREATE INDEX IF NOT EXISTS "idx_dashboard_s_domain_c387d3" ON "dashboard_sends" ("domain", "first_at", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWcFu2zgQ/ZWBTgngBo6dbLzpqRts2+whBZpgL9lCoCVa4loitSIV1yjy750hLUu2bE"
    "cO1qkC5GaRMyI1jzPzHv3DC5mOx4rl4cmVKqTxLuGHJ1nK8Udjrgcey7KVGRozbJys2vsB"
    "2WvrMNYmZwG9eMISzXEo5DrIRWaEkuT1Wc0gZXIO/IGjE6gJKMlhKmQIE54kIKRRdkgnIu"
    "CXwCBUKROyB5rLsAdZrh5EyHNQORgW9WA8h1gVOS0fqgDXFzI66Er/SIavYBGa0lDI5nBE"
    "HhpYzkEqAzpLhKE5I1J8sYm5yGFcBFNuQGjoH5/Qbgsp/iu4b1TE0SLHPd/fe24L9mPQV2"
    "oKGz48sKTg9MO9hX7Rh3jfvuEv/MG/c00voMds6k8ET8IVdIUFz477Zp7ZsT9EdC3NR2tL"
    "C44RyaRIZWWfzU2s5NJBuGMRcclzZjitYPKCUJZFkiwORgm8+7zKxO2y5hPyCSsSOivk7T"
    "ZQjXm+f/Plzr/98873vcY5Kj1qgC+GAiXpDAo6kRSAiLbw7vfBYDi8GPSHv43Ozy4uzkf9"
    "Edra/TanLh7dZqpouVfZmF1/ur65ow0pPOguE2jg0foww5yXBaOWW0tUVxG4ilm+Of6Vxx"
    "oG+HHrGJQR3wVCOVChUCXoS8CQsu9+wmVkYnwcnJ/vCPHfH75eff7w9QitjlcDfbOYGrg5"
    "inktxvV8aR3mulOXI+3trE1laerRM5U0LHZYU7A2iWROA3q9PLaB6XTQAqXTwVaQaGoVo2"
    "UZa4vP0qHT2FCoCReY8nkDm/fA08zMYYKPterehZSpmkn7xlD5PN0cfiEk2rDclGlAqQFH"
    "FH82P+4Bz1QQI2AY8FC/h76Fxnbwlsi8YE+pwLL9fo/UKe07nTmzmBmYMQ2WQ/LwEkKeiA"
    "eecyxyKsNNhv5iD89JmrM2OXO2PWXO1jNmQ3PZlSyb2soB86T/6kkU8dfJtMahaGDMgumM"
    "hEZjRg3UNtvmVDpI10eYZJGNJX23Y3ClCPoocr1NILm59gJpQvYtBdId1itrb48/9ZAA5c"
    "m0lC85D0QmUNCgfHHiBevWJdg8StmUa3AnxiVU+XTSUEeHW2aDrFkTKXWVw4zTMG+ipXui"
    "RURcb2AHu9h06fH/NJ1DgODFmJZ0zFcJdXXgSdyXvXPfhjNsw5iH2xnzsMGY35Tj4WmwvS"
    "Dy9y02da9OU2GrToxCSuWuwpASL0jXpOxj3SpJFTJsT3HCui9MVsSHEyiIhgWma0h0h4zd"
    "Yo3ewsXsVHsqtpR5TzOxLwvaA0cMJJ/phBvD80v4FCukTRyrbPJOYOvg6G1lZsq1xk8AER"
    "4DZld5K6AhEeigYzXTIEyTix1yoScumcnNn/J54yL5fqXzYJnwXW6J8I2vdZWvvVGFg1OF"
    "Zb7sEeW6z1ucW1IyKnobKdn2ONd9nhXnRcnoZphPB6NWt/GjHdfxo8ZxLsb/8mAvjVdzeb"
    "nD7Hl7sqxJrlLbF90dR433xiykC43O3MEbFul94l/adzj4f91+ubFUpAelyEB+wp/1v8dp"
    "v9UlLpltP/j95kVundO0Jyx1r9elMoTR9VzomtSoQ5OwZyBTc3p9wCS4r64i80tF4ONPTO"
    "mgrg=="
)
