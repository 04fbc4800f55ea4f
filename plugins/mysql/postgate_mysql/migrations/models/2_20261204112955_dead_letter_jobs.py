from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `queue_jobs` ADD `dead_at` DOUBLE;
        ALTER TABLE `queue_jobs` ADD `error` LONGTEXT;
        ALTER TABLE `queue_jobs` ADD `failures` INT NOT NULL DEFAULT 0;
        ALTER TABLE `queue_jobs` ADD INDEX `idx_queue_jobs_queue_27211a` (`queue`, `dead_at`);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `queue_jobs` DROP INDEX `idx_queue_jobs_queue_27211a`;
        ALTER TABLE `queue_jobs` DROP COLUMN `dead_at`;
        ALTER TABLE `queue_jobs` DROP COLUMN `error`;
        ALTER TABLE `queue_jobs` DROP COLUMN `failures`;"""


MODELS_STATE = (
    "eJztXe9zmzYY/ld0/pTcpb3E+blutzu7y7bs0mRNsl17vR2WQbaZMWJCxPW6/u+TBBiBEQ"
    "HXEJvoUxvpfRA8Eu/76pGQv3Rm2EKO/7oPqTm5w/POG/Cl48IZYv9ZqTsAHeh5SQ0voHDo"
    "COMht0KiDA59SqBJWfEIOj5iRRbyTWJ71MYuN+65AJom8iiyQO/3K2BCx3kDbOoDE7sUuR"
    "T4FBNWiV0Tgb1/HXv4ysQzjyDfR9Y+GGECGAQQZNqezez917xhC5usZdsd19hG4Nr/BMig"
    "eIzoBBHW0qdPrOEZtF1ebVto5mF2eXNhTNGi89dfvNC10GfGjbBFLsMHyOLWJkGQ3Z8BaY"
    "fZfUr9zYHe1BjZyLFS3WILqCg36MITZX17fOXSn4UtJ2JomNgJZm5i7y3oBLtLgO1SXjpG"
    "LiK8SVZGScC7yg0cJ+rUuPfCZ05MwueRMBYawcDhHc7R4Q0kZR3DuLl9MO4vHwyjszIYYo"
    "TUd1ER6yc+kNit+oKAMb+FV991u8fH593D47OL05Pz89OLwwtmK+53ter8a3gzCVvhpQRn"
    "V79c3TzwG8JstIajmBd8FRhIYYgS3Zawn3R1ugfeTiDJ5z9BZPqAPVy2D2LGizohLkh6IX"
    "nLmuiGGfxsOMgd0wn7s3t6WkDxn727t7/27vaY1X6a6JuoqhvWcc4lx8NeQThGRt5IV/Oc"
    "Rmmuy3HN3J3HGq1KdgbWQrZPj7ol2GZWSrZFXZptxFyBU5FqGbMWz5GT3k6aj7oXJWhmVk"
    "qaRV2a5mwUrsB2DrR9pNfiSSgc+6tM/3Z/e5PPdGyfodeyTQr+A47tr2Qom/IhnR9GgWty"
    "CsEwsB1qu/5r3t6PnZrYLyCb88OvPPP9fxyZ4713vQ9Z+t9e3/YFZdinYyKuIi7Qz3RFlO"
    "Hm5YkuJIv8/pBAmS4ZLmiY2e+YQy9K/iIml7Qz1vtXN727j0veZ4uo6vr25pd+DvP9jw+X"
    "vexLgHzKZ0c51GPsIOgq3gUJliWf4eriflnSMPm3t9cp8vtXmTz85o93/Uvm9kVHMCObpt"
    "JzKR1Hjv2ICJ8xrTD+s4OhYk6UhmUYH3Hc7rn4AsJ/uv2jf30Jfr+7fHt1fxU5nHh4h5Vp"
    "ou8ue9dZn5LMTaswnYatyfQOOZZNUC1LBBWciAzTTqSCE4l1IsPB43Fl2nPQmv0K7C8FNs"
    "ZpkJe0KJWtHOTTMtemiD+sK1MPZa7u0cn5ycXx2clS3VqWFIlaIb1cOxxNJf2KFwyhOZ1D"
    "YhkrNbiLVbarVbPuLFsCXTgWLPEn4jcXKceXj6xvFKrysu6gSFVG3KqsqBwLuu/YfHkcuE"
    "CAvwcevzkwXAA6QYBN6XxEwWCwxwYPJpaITAfAtvYHAzC36cR2AQShZJejKdfSRI6kvKIa"
    "JyKidNFQcNZS8ZZKxWJwVBV7JEwLRbVuGU2tq5bUuiuKmtbjm9CIUy6nvD/JAJsLzi3xLR"
    "lfUtmRtHSQH5fxIsdqL3K84kWWmWS1NRAJ1D6R+Lh7WIrmwwKeD7dmaW+rqa7Fa+u1pkbW"
    "mvSyh5L9ppc9OLWGjyAxJ1UGfQbWXMDs1EV8Ztgfdk/KjHtmph74ojJNt89yDGLTSsurMq"
    "aFDuasDM9napbPVhMT6ONK05sE0T5+z8qM4zP1KD5bGcPhfLviHoEUaCMsP69aUn8u4sGF"
    "g2FOKvKAPivmjhKkFVOYAlIfLj88FAfD1Fp0bJ6NkFuj+77ny1C/4aFC+pWrD4rUX7GcZf"
    "yNh6UVYGYL8EjIsA42oQPEJQ6Aw5xiqNDOMZki4n8PBgMLQa5MDAaA67UzBF0f8LJXDqIU"
    "EWTlCcA1tFBG/xWtCBYeWYbOCZL0X751eGkQtalV4S1VhZcdVTbaLAGtcIN1B3TxHULurL"
    "doiMsorVKurVKObOLnr3gUkS+j1iJ/23LWZ+HegWtQL4E08+synw3JpfdGZYF6d1SZ3VEi"
    "0zLwnHFSJYxmYO2bHNeiboasBS61nUpDO4PTOyxLDGzI5gQzj+aoyUr/LUP01qesY9ZbVh"
    "sbuyMWyQKCqoxdGaLH7sqCPyE4J76p9bIloA2RrQmxLP0ZAazsJiSMDm8KF7ElguQd64N+"
    "YE6Rajdq2uCgSJTk/WkMhW1pWZLiKeKLrhwEfJaihkohXwuL9UKwh13wbnH//hqwq+BYYJ"
    "wCgudccBRrDmBOGL/E389TJutp5GlxUqkzin8rZOix/WZ0ri1aUtlgZq7WFUX358TfAg+W"
    "QHSSUybJCTxrnXwyDdNUb3uwiLf1qWKFXF8cKpZHx5QLFLcuc8fIGjNHzRzyGwCTw2e4d4"
    "ZAyNQAuhaYM1+MxGk20aeMC+BTVpFzEM7GrvrE0Tfy3jFoWfwcnZzjb2SlnV2bBr68iiXX"
    "xmUewY+2hYihP3XY2kUtveryjPqz/gRCb6bd6aRWkkCjuFGBZQnSwsFcyyb8RidmWz2I9f"
    "FlO871IyQ2f/pKW/BToO3Yh8+bbc0+/CSvL70tfIlo4cDf/K5wvVK44dUWvadA7ylojY6W"
    "SvXQZ2pE735V3TIHqzkvwbksWFVwJhlY+5xJPRNzvU7+Mj4quQ88cTY7Y0ghzGcsDoqkeT"
    "+xLX9mPXIpWYSauYQXcwX+tUekRPAPwwYDYPvR8uocEVN8G+JgPA08fj5Q7mn1m736E2I9"
    "v6oRz+ulS68o9lpw30rBXWu+9YeW1DtSekogg1rIdA2TWa35NqD5yj6+OtPf9LHzC2TbzD"
    "0CWhkbzfyjn3f5G5xd3Qi7bYO16Z2w+jibdbqiFhl9yp6+iq+O7Rs8wEYKxLuYeqhOV1E7"
    "l288XeWlexf9Rc5L2EH5AMcKiSaqOSiSZuKIUmpjPRwDHyEXYOnX/vi2m9wN8oXGTwgmDK"
    "y1Ea2N7IRnaebHnqoQHJlrdsuxK99ZheQkA2sF201nKOFhJDxMVMpQ0jCdoZQ6yAGuw3QK"
    "pYne8lSwh4htTvJSwaimMBWEic1TyaCa62/4gjEvj3spSdw3Cnjq9OwRET83sKnTBwnSiq"
    "DWQArBX6oKDEfmLWT36LCMvs+sCs4+ztH3FT+wqRZK1T+v2YBW+jyxa2Oq6LMGs6//A34c"
    "Eco="
)
