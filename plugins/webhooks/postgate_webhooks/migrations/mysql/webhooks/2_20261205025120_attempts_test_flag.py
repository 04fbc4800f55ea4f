from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `webhooks_attempts` ADD `test` BOOL NOT NULL COMMENT 'a sample POST of the test route, not a delivery (delivery_id is 0)' DEFAULT 0;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `webhooks_attempts` DROP COLUMN `test`;"""


MODELS_STATE = (
    "eJztW1FT2zgQ/iuavFwykxZIQuB6nc4ApW3uUsJAuOlMr2MUW0l82JJryQ1Mh/9+u5ad2E"
    "5M7RSo4fJErNXK0rfS7upb8702Y6OpEFfy5YFSzPVU7RX5XuPUZfBjWdgkNep5SRE2KTpy"
    "Uv0NqvuHUjqSyqcmjjymjmTQZDFp+ranbMFRbcAZOR2cD4lLLUbqwic+GweSWWTExsJnxF"
    "ZkRmUobjQJNBE1ZUR4zKcKHhwxeUUosZhjf2P+zW+SRO9v4vstYcIEbD552Ff9w0Fcv7xU"
    "TKrLy0aoJqnrOdELxZhcXp5eDMnWt/aWJVxqc7n1GpF+sxXjtvU6+vVmSw/zEhcQcPtrwA"
    "wlJgwG9WEZn79As80tds0kPn6u6QFDuFUNpJ/nfwPfiZpRx6p9QV3vyhjbzLFS1gYhiMJ2"
    "Q914YduhPelx9S7si1iODFM4gcsX/b0bNRV8rmDz8EUTxhExhm9QfoBG54HjRBsl3gd6ZY"
    "suekkJHYuNaeDg1kFtPYFFW80wTgZD4/x4aBi1pW0VayTMHzWZguOWhKnKEIAJTuHF761W"
    "u73X2m5393c7e3u7+9v70Dec77Jo71ZPZoGWHirErPe+dzLECQnY9/pkYMNtqEMV1Vqh5R"
    "box1vKKGuGjOKP7RGjf5dB4oaFRRZn95mZZGECfUbSyL9zBM0BXnfP4D3G/tVBvMY8YU6J"
    "ZACwJbPucDX4d+D4dnBx2D8mp2fHR73z3uAEB3Rv5FdnIcQmaLBVCMfZ8UE/g/LCVaWRPp"
    "pSP2eHzzUyYMOsqwN18c3t0mvDYXyipvDY2t29A/C/D86OPhyc1aFXI719TyJRS8vSGEdh"
    "pAzICZVniHK7VQDkdisXYxSlIY7ialF4o+7PENrWdme/yA6GbvlbOBSmAWbfGFcro2E+yk"
    "mdZwh1t1MA6G4nF2YUpUGWiqpAAoIWW8Y5N+XIaK2VckQZ3kPHPy4g459NGSdckA/D4Smh"
    "XM6YT0xEoEwy0trp7HX2293OPAeZt9yVeiynGSJQpnBX4J2/rxMqVd7WcS7KrCbcq5R/g3"
    "/+ZabChjG1HbhnLa5cBdFPnYCdboETsNPNPQEoyrgZ3xd+KR8TKzyeJWq1p5uKWAGgAdMy"
    "XFkqu87orZlmP5KXcW3HsaMkm4x94errv6K+wos/PoQkgBLEVjJ2QXAU8FAEPvuDpPxU2D"
    "emISqRtCMdseJaKoTDKF9twFglY7kR6DzUOZm3lDAdzbI0aCycO/HB68JoXKgE40Pqifs2"
    "sSXZbvy0gQ4Hg35oFBkZ5bCXuaueXHw8PAbH1kgbSscWJHTGVwlSARtG1LyaUd8yliSiJf"
    "L6LovclpttoZxOQvxxnbiqOUv4NkKmtpJDnEubBUnECGiblaARwwQQj1l83PBYXZz1myTg"
    "ynaQ3gObpcKUpv/qne1uA0/kBCScBN7LldzhPY9fhNrTyRb25uxaGTGvN7a5LafMChs2nF"
    "41Ob0N1bGhOjZUx7OBdkN1rJEbYz6lw6Zt6Yqaz0yG8VFiALXYCyvwHNuEma5zI7x/TkQj"
    "i0592R5DCMF32SPWeiIWgSvG/EGSg9MeXtsDn0tIZJrE5uTPc31f+Kn8dnj8aZjKb2P06x"
    "8PPjVS15H+4OR93D1hraP+4HAlc1XmxCw0HvHm7jFuIWwlTRSpNdOppKZS4ntjVRiUZLG/"
    "IIGYVHm8guX2wyab90YQMg5rCnRqv4TpHZRJRm9TmSxJcsT3qzKYJ3SeEt6viBWwOVPFKw"
    "G/w6hkhpgBWmXcekZtLd/+ODRhZao+GrKQsSi12TN6leZkC4P90LuaSmXkJSu5ATKjVeUK"
    "W1hU01ON6VOcffxh3K+psYX4lS7tpLU29Z0i/EuShyzjSzJ6G1+S40sqw+6f2xMOa/+L5f"
    "D7CXmzIMMvtYpxxW4KcvxD8C7a4WhVAqrodZCGp6YpIDaROrqg6AtbcEdUEQknHuQ8vOGC"
    "RmOZ3L/PgX/M6ufy9dGryjithMr9eKyHIO5hNT7EBA1eHCYSM/+Friyfvr/SW7moIaLuVa"
    "Z+1gwcO60itCf0ymcNWkukp+kzxKNs3EirPaU71y+7ZFUnhASjJDyrgkiyR+EwklAqUSu+"
    "OOvHHj4aKn6Umn2L3VWdzjtMBayUBB4y1+0VYeQexy33bx9xTWtTCt6Ugp9ARNmUgssFEk"
    "iVmBd+RpkoCHjMB2eLZScsB0AaahGJX6Ssk1BtqsZPrmrsCWnHcbIgrZRUqWzdBQCw8OtI"
    "fUnAaDqz1RTiJX46mTiwj88qbVLW/0XKevsfQCiAlQ=="
)
