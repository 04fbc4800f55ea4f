from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "dashboard_mx" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "domain" VARCHAR(255) NOT NULL UNIQUE /* recipient domain, lower case */,
    "provider" VARCHAR(32) NOT NULL /* provider key, other when none was recognised */,
    "hosts" VARCHAR(512) NOT NULL /* MX hosts by preference, comma separated, cut */,
    "failed" INT NOT NULL /* true when no answer came (time-out, server failure) */,
    "checked_at" BIGINT NOT NULL /* epoch seconds of the look-up */,
    "expires_at" BIGINT NOT NULL /* epoch seconds after which it is looked up again */
) /* The mailbox provider found from the MX hosts of one recipient domain, kept until ``expires_at`` */;
        CREATE TABLE IF NOT EXISTS "dashboard_workers" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "owner" VARCHAR(255) NOT NULL UNIQUE /* loop name at host:pid:token */,
    "host" VARCHAR(255) NOT NULL,
    "pid" INT NOT NULL,
    "started_at" BIGINT NOT NULL /* epoch seconds of its first heartbeat */,
    "seen_at" BIGINT NOT NULL /* epoch seconds of its latest heartbeat */
) /* The latest heartbeat of one worker loop (see the ``worker_heartbeat`` hook). */;
CREATE INDEX IF NOT EXISTS "idx_dashboard_w_seen_at_15ec5f" ON "dashboard_workers" ("seen_at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "dashboard_mx";
        DROP TABLE IF EXISTS "dashboard_workers";"""


MODELS_STATE = (
    "eJztXNtu4zgS/RXCTzHgBIlz3fTTdDCXXnQng+707gKTgU1LZYtrmdSIVBxj0P++VaR18X"
    "Vko53Qs34JLIolUVVk1TmsYv5shFxHPcXT8OROZdI0btmfDclHgD8W7rVYgyfJzB1qM7wX"
    "z/bvBNRfW4GeNikP6MF9HmvAphB0kIrECCVJ6hc1ZiMuJwyeAYWY6jMlgQ2FDFkf4pgJaZ"
    "Rt0rEI4JZxFqoRF7LFNMiwxZJUPYsQUqZSZvigxXoTFqkspdeHKsD3CznY6ZueJMdH8AF2"
    "paaQT9gRSWjGU2BSGaaTWBi6Z8QIH2wiECnrZcEQDBOanTZPaLSZFH9k0DFqANgjxTH/9l"
    "vDDcF+DMpKTWrDi2ceZ0A/3FPoF31I4/ff8Rf+gBfQ9AC6TIadvoA4nLGusMaz7R0zSWzb"
    "ezH4IM1Pti+9sIeWjLORLPsnExMpWQgINy0GICHlBugNJs3IyjKL4+nEyA3vPq/s4kZZkQ"
    "mhz7OY5gpJuwGUbY1O5/7hsfPlx8dOp7Ewj3KJisGnTYGSNAcFzUhSwICGcPyPdvv8/Lp9"
    "en51c3lxfX15c3qDfe14F29df3ODKbXlHmV19uHnD/ePNCCFE92tBGr4ZmW44U7KGqOytg"
    "qrzlrgLuLpcv2XEnM2wI+bt0Gu8XVGyBtKK5QL9DXMMOIvnRjkwER42b68XKPif/3w+e6X"
    "Hz4fYa/mrKLvp7fa7h7pvKLj6nqpreaqkM+abqz1TblratE1uTR0duhT0DeJeEINet491j"
    "HTWbuGlc7aK41Et2ZtVLixuvYpBLy2Dama7MKGMFmwzTsGo8RMWB8vK97dhyVTBpP6gaGU"
    "+evg8IYm0YanJl8GtDTYEemfT5otBokKIjQYKjzU79ipNY2N4DUt84oxpTSWjfcbLJ28v9"
    "crZxxxw8ZcM4shIbxlIcTiGVJAJ6cSHGTYmY5hm0VzUWfNXKxeMhfzK2ZJcFm3WJaFlR2u"
    "k9O9B1GEX/vDCoaihh4PhmMiGgt3VFut6rt4a9QezbdwyQdWl/TdDsHlJOgnDJ1ZCo3lFC"
    "m/W58k9Z3EpjQpF8vpCymyxb58evwVl0yIP0FGXAYQMvR4JtO2lRFBwUgT99RLGY4K0rOa"
    "Ku3ibU+SnuRccLdrEUm36767mcOVr493jkeVHYgkNG+ZdRDkw3voIAJg8JLEKsXnD1KVJb"
    "oWkaInLuFOdp6H1ob5Z9nlOv2CA7fyxy0cuNUbc6t8Cc1NcqVi4HKFlnOZOSX3UMgfLTdo"
    "wdDez9QFvXNPxRa5dFtpuQnWTeqHh4/0kJHWf8Ruls9N8fuvn97/iETKGgQ7CbMCAR7g+g"
    "Ghv7plcPQIxbXqG/ybJQmiA43xH60TqFES8+k8evu9hTyW19V+3t9r7U/Z0OTY4a2TKQqz"
    "GwrjCCQjcLWN/m9qqP9mpfZv5pVfBVB1DTADuvbJCPnAj7+bNc6u6qyGq9Wr4WreIAWK3c"
    "AgVRmvDbJANqaBI4VAJAK280jndTzS+WqPdL7gkQ6bBf83mwUi1auyqe5eq/5GAfWvuU3w"
    "iJPe9rd7ZTYoxyIY5vS9WA9IxF2mE2Q45dQjPkSe72aM233Lr04W9gd295ol1H2OdVeZPD"
    "eOlB9YuH8sXAxAL+Em61JvucT3iTW7MAKiXx3RNJ/NvpUTnra+chj/9gHnsBWy+60QW03S"
    "2dTZVKW8JuI2lWlUihTPjhlx1TRD08/jmF8uqbQM33BrhPu/LTKz9eFQLlrDGsY3S/gDxj"
    "4KOVxX3lberw/KYpSpicnuCBqhsRwUIsEcJzlY1O1SwOh2qRKs27VACvCyVV50ogy/D3sc"
    "ScV6yrB+zAfN1gIs29mbnmTZw01x7IKob761FAeO87QMi4pSNQkSMxpU84QRgLTjE/pJDm"
    "GC3qU3YZzl4VUgKhxHKgb29fPHd5bLGXgxbAiJcdn5SI3xq+lLKBEUQlgn80Nq6ODrbNc0"
    "zn8urZxbJZdHd3mAnr5CzwPq2Tnqqa6Iulquyhz0XE/PFS9VV80VEZ+13OjFfAjt3vFZ+y"
    "bfrytcfotF8OIHh0J1bqh97zVPqrZKDjLE84qdnbYvWICfhDgG0u1KQ09r1VZRt9Wb1qeL"
    "9VV/xxTatv7lULy2ZyDFHwr06eUzcsZ0FqUuuV2fAI1e6u9IL9aCEWRn/VSNrNv/9B8WKV"
    "0eySl5Q77NZnE/MjQRI+eAl0SkoDvcdLtLt6Z3+L4necSJfKToKDFciRhcoo8eGys1PM4S"
    "WzTnMuLuvUil8pHYsz9MwoAb8QwsQJYEKw//HMrNfFnIfrONnWx0L66JWI1xzgdcb1d6vQ"
    "t0/LdOahfeyx4iUeQVyqICuwOLNlIDKTR4km6wTnUTWxQCXhuiCBe9CTpy6EMKMsCnBmo0"
    "wmAACbeDtHB6G0Nc1qp9ulxT/HS5WP3kgtCSwLCuRLMUesUazaJlwyLNfDEwLrXzTCNgR3"
    "TC9lhlVJwG6TPFflfC3qxnmdcp3MSob3dNN81QzMrtW6aiQEi+pSpm0nkF2NswoTcjt0em"
    "4f0plMU2YY+jk5UQvyKStWfafbOWP6zqC8hVjMreqs+misOGf02oHqbpHIZERMJYx2AMEY"
    "ufKUYxIO5zLDAYAUrbRTcCrfETmAibDEFDfjYV7SxQgBIpGg2/WOSzyxfVzdOsS8rY/PN0"
    "vYnwkI058KO92MU7ZGP2V8/W6S2t9VlT1V6R2UrPU5fhp5rP2nUODmCvNQc3Fg4P6Kz3Xw"
    "g2Kh6siLzeZG40NkRexQ6kK56tFFRFPGRbnhXYyUw3fLARk8/7e6z8f355uLdQpMXy6jXE"
    "J7DVf9/YVbqrimnqA5aq1B4xj2mdT2Ut+EY1qqaJ+RaWqQjtn2FiHJevlvGHBP5bpUNI3w"
    "NfVV5Y6dCqTQjHVmiDUx9TY0XAU9PDd+W5Lfcg4vQJ/Vc6x9S6XdfcKbp3uyxC2t9cftbj"
    "ez68zgkPcsudw+EObzmdGsvNki6FgMcZLzuL6QsZ4TGlzW0iwlujhttBhJ3AMhrWpgmWA8"
    "Grr99kmV9Z6VQS/89vbOpY2mcX1xc351cXhT8pWta5kUW4ZP+BwxYpjlk5n1W7Ds0Woc83"
    "3DS7a+Si7Gb2KYX2zzjzOMY367wpqv32PzpvoZA="
)
