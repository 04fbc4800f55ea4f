from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `recipients` ADD `finished_at` DOUBLE;
        ALTER TABLE `recipients` ADD INDEX `idx_recipients_status_80565b` (`status`, `finished_at`, `batch_id`);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `recipients` DROP INDEX `idx_recipients_status_80565b`;
        ALTER TABLE `recipients` DROP COLUMN `finished_at`;"""


MODELS_STATE = (
    "eJztXWtz2zYW/SsYfXJmlIwjP5vudEZK3aw7jt3a7k47mQ4FkZDEFUWwIGhF7ea/LwC+QI"
    "qgSUWkJQafEgP3kNQBeO/FwYP/9JbYQo7/ZgSpOb/Hq9478E/PhUvE/rNR1wc96HlpDS+g"
    "cOII4wm3QqIMTnxKoElZ8RQ6PmJFFvJNYnvUxi43HroAmibyKLLA8JdrYELHeQds6gMTux"
    "S5FPgUE1aJXROBo78de/LaxEuPIN9H1iswxQQwCCDItD2b2ftv+I0tbLI72+6swXsErv1X"
    "gAyKZ4jOEWF3+vSJ3XgJbZdX2xZaephd3lwbC7Tu/fknL3Qt9JlxI2yRy/ABsri1SRBkz2"
    "dA2mN2nzJ/c6C3MKY2cqxMs9gCKsoNuvZE2cieXbv0J2HLiZgYJnaCpZvae2s6x24CsF3K"
    "S2fIRYTfkpVREvCmcgPHiRo1br3wN6cm4e+RMBaawsDhDc7R4QOkZT3DuL17NB6uHg2jt9"
    "EZYoTUdlERayfekdij+oKAGX+E198NBicnF4Pjk/PLs9OLi7PL40tmK553s+riS/gwKVvh"
    "pQRn1x+ubx/5A2HWW8NezAu+CAykMESJZkvZT5s62wLv55AU858icm3Afly+DWLGyxohLk"
    "hbIX3L2miGJfxsOMid0Tn7c3B2VkLxf4b37/89vD9iVq+yRN9GVYOwjnMuOR72CsIZMop6"
    "uprnLEpzXY1r5u48dtO6ZOdgHWT77O2gAtvMSsm2qMuyjZgrcGpSLWO24jly0vtJ89vBZQ"
    "WamZWSZlGXpTkfhWuwXQDtHumNeBIKZ/4m0z8/3N0WMx3b5+i1bJOC/wHH9jcylF35kN6/"
    "poFrcgrBJLAdarv+G36/H3oNsV9CNueHX3np+385MsdHH4e/5+l/f3M3EpRhn86IuIq4wC"
    "jXFFGGW5QnupCsi9tDAuWaZLKmYWZ/YA69LPmLmExoZ6yPrm+H938kvC/XUdXN3e2HUQHz"
    "oz8er4b5lwD5lI+OCqjH2EHQVbwLEixPPsM1xX1S0jL5d3c3GfJH17k8/Pa3j6Mr5vZFQz"
    "Ajm2bScykdR479hAgfMW0w/pODoWJMlIXlGJ9y3OG5+BLCf7z7bXRzBX65v3p//XAdOZy4"
    "e4eVWaLvr4Y3eZ+Sjk3rMJ2Fbcn0ATmWXVAtSwQ1nIgM006khhOJdSLDwbNZbdoL0Jr9Gu"
    "wnAhvjNChKWpTKVgHyeZlrV8QfN5WphzLX4O3pxenlyflpom4lJWWiVkgv1w6nC0m/4gUT"
    "aC5WkFjGRg0eYJXtZtVysMyXQBfOBEv8F/GHi5TjqyfWNgpVOanrl6nKiFtVFZVjQfcjGy"
    "/PAhcI8PfA4w8HJmtA5wiwIZ2PKBiPj1jnwcQSkakPbOvVeAxWNp3bLoAglOwKNOVGblEg"
    "KW+oxqmIKF00FJy1VLynUrHoHHXFHgnTQVFtUEVTG6gltcGGoqb1+DY04ozLqe5PcsD2gn"
    "NHfEvOl9R2JB3t5CdVvMiJ2oucbHiRJJOsNwcigbonEp8MjivRfFzC8/HeTO3tNdWNeG09"
    "19TKXJOe9lCy3/a0B6fW8BEk5rxOp8/B2guYvaaIz3X748FplX7PzNQdX1Rm6fZZjkFsWm"
    "t6VcZ00MGcV+H5XM3y+WZiAn1ca3iTIrrH73mVfnyu7sXnG304HG/XXCOQAe2E5ZdVS5rP"
    "RTy4djAsSEUe0WfF2FGCdGIIU0Lq49Xvj+XBMDMXHZvnI+Te6L6/8mmon/FEIf3K1f0y9V"
    "dMZxn/xZPKCjCzBXgqZFgHm9AB4hJ94DCnGCq0K0wWiPjfg/HYQpArE+Mx4HrtEkHXB7zs"
    "tYMoRQRZRQJwA3eoov+KuwgWnliGzgmS9F++dDgxiO6pVeE9VYWThqoabRJAJ9xg0wFd7E"
    "MoHPWWdXEZpVXKrVXKqU384hmPMvJl1Fbk71vO+iLcO3AL6iWQZn5b5vMhufLaqDxQr46q"
    "sjpKZFoGXjFO6oTRHKx7g+NG1M2QtcCltlOra+dweoVlhY4N2Zhg6dECNVnpv2WIXvqUd8"
    "x6yWprfXfKIllAUJ2+K0N0392Y8CcEF8Q3tV6WALoQ2doQy7LbCGBtNyFhdHhTuIg9ESTv"
    "WRuMAnOBVKtRswb9MlGSt6cxEbaVZUmKF4hPunIQ8FmKGiqFfC4s1gvBEXbBx/XDrzeAXQ"
    "XHAuMCELzigqOYcwArwvgl/qsiZbKZmzwvTip1RvFvjQw9tt+NzrVHUyo7zMzVuqJo/oL4"
    "W+LBUohOcqokOYFnbZNPZmGa6gMIFh8IVO5cyNQ/Hypm3LRipHhAruUDgWDOe0rwEsDYlf"
    "OL9YHY6ML+EiNrVrlizc98N5wyj83dOfP0iCCwhBbajBG7v/xXRAc9C/WSs1BhmlAnOqeI"
    "puahOhGg5eVR7G2rMR5O7Ls0AbWz8XDkterG3ixMx94qaQ5B4WKGulzncHpQvOd5Trx9QZ"
    "XnyPXleU5yRF61NOfOZcNOZM1YTsEGnu9YnpFcgY9CIRDT8QC6FljNeb7BT+2LjmxYA5+y"
    "ioID/3Z21WeO+JPXyEPL4ucFFhzzJ68oYNemgeAmXq0j18ZlHsFPtoWIEReksKnt2v48eb"
    "MStF7js6fZlV6E0nZj6B2hem9R52bf4/BSg2UJ0sHO3MiexFZ16r3uxPo01wPn+gkSm//6"
    "WjsSM6D92JbIb9uZbYlyHl9xl1yC6GDH3/0mOb1wasdim15iqZdYdkZuy6R66DM1one/rr"
    "xZgNWcV+Bc1rVqOJMcrHvOpJmBuV422OKywZwuW9mV5HDajez3TMlD4InPAjFCFHMlOYt+"
    "2WyJn9pW/1wScilZh9MYEl6My/hG40j14WcSjMfA9qOVfStETLEt2cF4EXj8aMrCDyXt9u"
    "rPzJ/wqxqxhiJdemMSRU9u7OXkhtbXmw/jmXek8vBLBnWQ6QaEA62vt6Cvyz6+PtNfdc7O"
    "N8i2Wfj1EWVsNIu/OnLI278PdQ/WvnXWtkdT+iTFbZqikSmLBfv1dXx1bN/i2YlSID7E1E"
    "N1sJ/auXzlwX7funfRm8G/BanmEc4UEk1U0y+TZuKIUmlPJ5wBHyEXYOlD03yJU+HezFLj"
    "ZwQTBtbaiNZGDsKztPOd0ToER+aa3Wrsyk9WIznJwTrBdvuzSfwcPB4mak4myTCdoVQ6Qw"
    "xuw3QGpYne81RwiIhtzotSwaimNBWEqc1zyaCa6x1vj/5WkrivFPDU6dkTIn5hYFOnDxKk"
    "E0GthRSCv1Q1GI7MO8ju2+Mq+j6zKvnsRoG+r/i2u1ooVX/ZvQWt9GVi185U0RcNZl/+D1"
    "wTa8k="
)
