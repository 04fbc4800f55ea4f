from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "rate_grants" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "bucket" VARCHAR(128) NOT NULL,
    "sends" INT NOT NULL,
    "granted_at" REAL NOT NULL,
    "released_at" REAL
) /* Sends granted from a shared rate, counted until a window after they were made. */;
CREATE INDEX IF NOT EXISTS "idx_rate_grants_bucket_d17294" ON "rate_grants" ("bucket");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "rate_grants";"""


MODELS_STATE = (
    "eJztXWtv2zYU/SuEP6WAW6TOc90wwO6yLkOadEk2tCgKhZZoWbMsqhQV19v630dSkkXJoi"
    "IlluIo/NSGvIeSD+l7Lw8f/rc3xxZyg1cjSM3pJV703oB/ex6cI/aftbo+6EHfT2t4AYVj"
    "VxiPuRUSZXAcUAJNyoon0A0QK7JQYBLHpw72uPHQA9A0kU+RBYYfToEJXfcNcGgATOxR5F"
    "EQUExYJfZMBHb+cZ3xSxPPfYKCAFkvwAQTwCCAINPxHWYfvOIPtrDJnux4doPPCD3na4gM"
    "im1Ep4iwJ33+zB48h47Hqx0LzX3MmjeXxgwte1++8ELPQt8YN8IWeQwfIotbmwRB9n4GpD"
    "1m9znzNwf6M2PiINfKdIsjoKLcoEtflI0c+9SjvwpbTsTYMLEbzr3U3l/SKfZWAMejvNRG"
    "HiL8kayMkpB3lRe6btypSe9Fnzk1iT6PhLHQBIYu73COjl4gLesZxvnFtXF1cm0YvbXBkC"
    "CkvouLWD/xgcReNRAE2PwVXv4wGOztHQ129w6PD/aPjg6Od4+ZrXjf9aqj79HLpGxFTQnO"
    "Tt+dnl/zF8JstEajmBd8FxhIYYQS3Zayn3Z1tgfeTiEp5j9F5PqAfbh8HySMl3VCUpD2Qv"
    "ota6Mb5vCb4SLPplP25+DgoITiv4aXb38bXu4wqxdZos/jqkFUxzmXHA/7CkIbGUUjXc1z"
    "FqW5rsY1c3c+e2hdsnOwDrJ98HpQgW1mpWRb1GXZRswVuDWpljH34jl20ttJ8+vBcQWamZ"
    "WSZlGXpTkfhWuwXQDtHumNeBIK7WCd6d+vLs6LmU7sc/RajknBf8B1grUMZVM+pPfTJPRM"
    "TiEYh45LHS94xZ/3c68h9kvI5vzwludB8NWVOd55P/yYp//t2cVIUIYDahPRimhglOuKOM"
    "MtyhM9SJbF/SGBcl0yXtIos39iDr0s+YuZXNHOWB+dng8vP614ny/jqrOL83ejAuZHn65P"
    "hvkvAQoonx0VUI+xi6Cn+C5IsDz5DNcU96uSlsm/uDjLkD86zeXh53++H50wty86ghk5NJ"
    "OeS+k4cp1bRPiMaY3xX10MFXOiLCzH+ITjnp6LLyH8l4s/R2cn4MPlydvTq9PY4STDO6rM"
    "En15MjzL+5R0blqH6Szsnkw/IceyCapliaCGE5Fh2onUcCKJTmS42LZr016A1uzXYH8lsD"
    "FOw6KkRalsFSDvlrk2RfxuU5l6JHMNXu8f7R/vHe6v1K1VSZmoFdHLtcPJTNKveMEYmrMF"
    "JJaxVoMHWGW7XjUfzPMl0IO2YIl/Iv5ysXJ8csv6RqEqr+r6Zaoy4lZVReVE0H3P5st26A"
    "EB/hH4/OXAeAnoFAE2pQsQBTc3O2zwYGKJyNQHjvXi5gYsHDp1PABBJNkVaMqNPKJAUl5T"
    "jVMRUWo0Epy1VLylUrEYHHXFHgnTQVFtUEVTG6gltcGaoqb1+DY04ozLqe5PcsD2gnNHfE"
    "vOl9R2JB0d5HtVvMie2ovsrXmRVSZZbw1EAnVPJN4b7FaiebeE592tWdrbaqob8dp6ramV"
    "tSa97KFkv+1lD06tESBIzGmdQZ+DtRcwe00Rnxv2u4P9KuOemakHvqjM0h2wHIM4tNbyqo"
    "zpoIM5rMLzoZrlw/XEBAa41vQmRXSP38Mq4/hQPYoP18ZwNN+uuUcgA9oIy4+rljSfi/hw"
    "6WJYkIpco2+KuaME6cQUpoTU65OP1+XBMLMWnZjnI+TW6L5/8GWo3/FYIf3K1f0y9VcsZx"
    "l/43FlBZjZAjwRMqyLTegC0UQfuMwpRgrtApMZIkX7hWuCq6i2ogHx7rcsr+YfS6u226Gs"
    "qFXbVZ9VjQYrQCfcVNMBV5wTKJyVlg1xGaVVxHuriBOHBMUrEmXky6h7kb9tOeWjcO/Ce1"
    "AvgTTz92U+H3wr713KA/XupSq7l0S6ZOAF46ROGM3Bujd5bUR9jFgLPeq4tYZ2Dqd3QFYY"
    "2JBSNPdpgdqr9N8yRG9NyjtmvaW00bG7JWrAJeuEUWjOkGorWNagX6YI8A41xsK2siZA8Q"
    "zxFQ8OAgGLP9FcngvRyYwe7GAPvF9e/XEGWCs4kQBmgOAFlwSE4AcWhPFLghdF2kEzD7lb"
    "Y1CKCOLfGuE3sd/MJHaL9MwNhl21aCC6vyAwlHixFKI9WJXoG/rWfYJFFqapfgLB4h2Bym"
    "3Dmfq7Q4XNTStGiivkWQEQCOa8JwTPAUxcOW+sD8Quc/aXSJtZ5YJ1P/PdcMI8NnfnzNMj"
    "gsAcWmg9Rmy++QdEBy0xP6bEHKUJdaJzimhKZO5EgJb3JrBvW42J2sq+S+ryxiZqsdeqG3"
    "uzMB17q6Q5BEXLjXW5zuG0oLPleU6yd1iV58j15XnO6n6qamnOhcemnciyWU7BJp5vWJ6x"
    "aoHPQiEQa20AehZYTHm+wa/Mis9LL0FAWUXB6vnGWr3jfi15gyq0LH5ZV8EdW/JyIWubho"
    "IbvujOb9mSa5Myn+Bbx0LE0Cvz25s26aXjtjtDn7PSO/Y7t2aWxI0aLEuQDg7mRk76tCpA"
    "b/Ug1nckPnGubyFx+Kevdc4nA9qOwz78sZ057JPm9ZXPnqwQHRz4mz96orc7bFhF0xuj9M"
    "aozuhomVQPfaNG/N2vq1sWYDXnFTiXBasaziQH654zaWZiTggu8Nnqw2srQBcIfkYn165C"
    "X/wABGNIIcznLPpl0nyQ2lb/YQzkUbKMNHMJL+YKP4Kbm1iJ4KdPb26AE8TbyBaImOKUmo"
    "vxLPT5JWSFP4mx2dbvEOt5q0Yyr5eaXlPsteC+lYK71nybDy2Z70jlKYEM6iDTDUxmtebb"
    "guYr+/j6TD/oRoVnyLZZeM+8MjaaxffLP+WDhBuTZlpO8LdtsLaR4es7sx7aFY3I6DP26e"
    "v46sS+xVuypED8FFMP1RVOaufywCucnrt30ccKn8MOymtoKySauKZfJs0kEaXSAUJogwAh"
    "D2DpJ0X5tpvCg4ClxncIJgystRGtjTwJz9LOL8rVITg21+xWY1d+sxrJSQ7WCbbbzlCiG5"
    "V4mKiVoWRhOkOpdBsNvA/TGZQmestTwSEijjktSgXjmtJUEKY2dyWDaq43fBb3uSRxDxTw"
    "1OnZLSJBYWBTpw8SpBNBrYUUgn+pajAcm3eQ3de7VfR9ZlVywXqBvq/4FV+1UKr+Dd8WtN"
    "LHiV0bU0UfNZh9/x9ZdXp4"
)
