"""Monthly counter rows (``domain/m``, ``provider/m``, ``tag/m``): summed from the daily rows
already stored, so month views of a database filled before them read the same figures. The live
writer and the backfill keep them from here on. No table changes."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        INSERT IGNORE INTO `dashboard_counts` (domain, dimension, value, bucket, kind, n)
SELECT domain, CASE dimension WHEN 'domain/d' THEN 'domain/m' WHEN 'provider/d' THEN 'provider/m' ELSE 'tag/m' END,
    value, TIMESTAMPDIFF(SECOND, '1970-01-01', DATE_FORMAT(DATE_ADD('1970-01-01', INTERVAL bucket SECOND), '%Y-%m-01')), kind, SUM(n)
FROM `dashboard_counts` WHERE dimension IN ('domain/d', 'provider/d', 'tag/d')
GROUP BY domain, dimension, value, TIMESTAMPDIFF(SECOND, '1970-01-01', DATE_FORMAT(DATE_ADD('1970-01-01', INTERVAL bucket SECOND), '%Y-%m-01')), kind;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DELETE FROM `dashboard_counts` WHERE dimension IN ('domain/m', 'provider/m', 'tag/m');"""


MODELS_STATE = (
    "eJztW9tu2zgQ/RVCTzHgBI5z3eSpDXpbtMmiSfelKWRKoi2uZVIVqThG0X/fGdK05Gtlo0"
    "6UXb8EFsmRyDmcyxkyP7yIqjiQNIsOrmQutHdBfniCDhj8mOtrEo+m6VQPtmkaJNPj/RDH"
    "KyMQKJ3REF/cpYli0BQxFWY81VwKlHovh2RAxYiwBwZCRHaJFIz0uYhIlyUJ4UJL06QSHr"
    "ILQkkkB5SLJlFMRE2SZvKBRywjMiOa9pokGJFY5hl+PpIhfJ+L3la/dC8ovIL2YCg2RXRE"
    "9lBCEZoxIqQmKk24xj7NB/BiHTOekSAP+0wTrkircYCzzQX/njNfyx6DERnM+etXz07BLA"
    "ZkhUK1wcMDTXKGP+xb8BcuxPv2DX7BD/bIFL4AH9O+3+UsiabQ5QY80+7rUWraXvPeB6Hf"
    "mrH4wQCQTPKBKManIx1LMRHgdlv0mGAZ1Qy/oLMcURZ5kow3hgPeLq8YYmdZkolYl+YJ7h"
    "WUthMo2jzfv76582/f3Pm+N7ePnEQJ8HFTKAXuQY47EhXQwyns/9FuHx2dtVtHp+cnx2dn"
    "J+etcxhr5jvfdfbTTqbQln2V0dmHdx+u73BCEja6tQRs+GlkqKZWyoBRsq0JqtMIXMU0W6"
    "z/QmIGA1jcLAZO46tAcA0FCoWBPgUMA/roJ0z0dAyP7ZOTFSr++9Xnq/evPu/BqMa0oq/H"
    "XW3bhzov6bhsL5XVXBaqs6a9lb7JuaYmPqNLA2cHPgV8E09G2KBm3WMVmA7bFVA6bC8FCb"
    "umMZq4sar4TARqjQ2qGnEhfTaaw+aSsEGqR6QLjyXvXgeTKYJJ9cBQyPw6ODwjJErTTDsz"
    "QNMge6h/Omo0CUtlGANgoPBIXZKWgcZE8IrIPGFMKcAy8X4N03Hja205w5hqMqSKmBySRR"
    "ckYgl/YBkDJydTmGTkj+ewidEcV7GZ4+UmczxrMQuCyypjWRRWtmgnrRefRGH+2u2Xcihs"
    "CGjYHyLRmOuRbbls7HzXoD2YbaGC9owucd02g3Mk6C2Ezjxj3mKK5Hqrk6SulViXJjkxR1"
    "9QkU1y++nuLzCZCH4yEVMRsoiAx9O5Mq0ECQpEmiSQj0U4mpCe5VRpG1+7F/gm64I7HZOR"
    "dDp23Q2Xrny5u7I8qhiAJKFxQYyDQB8egIMIGWGPaSIzeH8vk3mqKhEpfOMC7mT2eWQwdM"
    "sy5jpewY5b1cct7LjVM3MrZ0Izm1zKhFGxRMtOZkbJAQjVR8seGgzWfsYu6NK+FVrEwrLS"
    "YghWbeqbm4/4koFS3xO7y2e2+PWXT6/fAJEygMAgrpdkgLt0fZehPzkyMHtIxZXsavibpy"
    "lkBwriP6ATykGa0PE+ev7agovlVbXvxtda+2M2NNq3+dbBOAszBYVhzATB5GoT/Z9XUP/5"
    "Uu2fzyq/nEBVBWAq6XpJILiJ7/82NA5Pq1jD6XJrOJ0FZJLFrgFIWabWgMyRjXHgyFjIU8"
    "4280hHVTzS0XKPdDTnkXbFgv9NsYBnatlpqu1rVi8U4PiKZYI72PRmvKmVmaCc8LDv6PvE"
    "HoCI25NOJqIxpx7QPvB8u2Ns9c09HczVB7b3mQXUfYZ1l5k81ZaU71h4/Vg47zG1gJusOn"
    "pzEr8n1mwDBMh+VYzbfPr0rdjwWPpyafzzB5xdKWT7pRBzm8Rf19mUpWpNxM1RppYZUDwz"
    "Z8irxic0XRfH6uWSCmTomqURWv+yyFTpw2a5gIYBpm5I1CcZ+8hFf9X1tqK/elKWgEzFnO"
    "wKUyMAy6ZCKOjyJJsWdToYMDodvAnW6ZhEisFjs3jw4xzWByP2hCSB1KSb0F6jOZeWbe1L"
    "96IYYbc4DIGsb7a1EGcU9mkRFiUe1aRAzHBSjQOCCaSZH1f3os9G4F2CEaHEhVcOWeEwlg"
    "kjXz5/vDRcTrNHTfos1fZ0PpZDWDWuBA+CIhZVOflBNfjwOTM0S9zPhTfnlsm56C52qWdd"
    "U89d1rP1rKdsEVW1XJbZ6bmankteqqqaSyJ11rIXJLTP2sH+Yfvc1esmLr9JYvZYDw4F6l"
    "xT+7XXPKraKDnMIZ+X5LDVPiYhLAnyGJZtdjW0VeluFQ5bXrRuzd+v+i8eoW3qX3aX115Y"
    "klIfCnQLoddbzH5MV3XiM7kW+2viczMmHmSPEsGGKmEa3MsFeRdLBaQVD232edQkDKSN+x"
    "8wpWAJhEcNQhVxt6gVUAUQwJRfATOYL0dv80NVGcUq+mAqJb4tL/Boxxt2vOFFxJsdb3i5"
    "ejZOb2FVesX9i5LMRnoeu4x6qhloRqUbRssvuZi+me2cB/+wcK1jrpLI021mz1uTInQzOT"
    "Bx0R7zlkr/MY3IhrdatrLTNe2pdfTvxtdY+X/e3lybVKRJ3DkL5Cdso/8T2xYxK+c01ROW"
    "stTLOmjBinTJFup22lKGJqEbIFMSennAJDCvuiLzrCTw57+PwOtU"
)
