from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `rate_grants` (
    `id` BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `bucket` VARCHAR(128) NOT NULL,
    `sends` INT NOT NULL,
    `granted_at` DOUBLE NOT NULL,
    `released_at` DOUBLE,
    KEY `idx_rate_grants_bucket_d17294` (`bucket`)
) CHARACTER SET utf8mb4 COMMENT='Sends granted from a shared rate, counted until a window after they were made.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS `rate_grants`;"""


MODELS_STATE = (
    "eJztXWtv2zgW/SuEP6WAW6TOczuLBexupptBmswkmcUMioFMS7SttSxqKCqud7b/fUnqRc"
    "miIrmWYiv81Ia8h5IPqXsvD0npr94SW8jx340gNef3eNX7AP7quXCJ2H826vqgBz0vreEF"
    "FE4cYTzhVkiUwYlPCTQpK55Cx0esyEK+SWyP2tjlxkMXQNNEHkUWGP58DUzoOB+ATX1gYp"
    "cilwKfYsIqsWsicPRfx568NfHSI8j3kfUGTDEBDAIIMm3PZvb+O35hC5vsyrY7a/AagWv/"
    "GSCD4hmic0TYlb58YRdeQtvl1baFlh5mzZtrY4HWvT/+4IWuhb4yboQtchk+QBa3NgmC7P"
    "4MSHvM7kvmbw70FsbURo6V6RZbQEW5QdeeKBvZs2uX/ihsORETw8ROsHRTe29N59hNALZL"
    "eekMuYjwS7IySgLeVW7gOFGnxr0X/ubUJPw9EsZCUxg4vMM5OryBtKxnGLd3j8bD1aNh9D"
    "YGQ4yQ+i4qYv3EBxK7VV8QMOO38PZvg8HJycXg+OT88uz04uLs8viS2Yr73ay6+BbeTMpW"
    "2JTg7PrT9e0jvyHMRms4innBN4GBFIYo0W0p+2lXZ3vg4xySYv5TRK4P2I/L90HMeFknxA"
    "VpL6RPWRvdsIRfDQe5Mzpnfw7Ozkoo/vfw/uO/hvdHzOpNlujbqGoQ1nHOJcfDHkE4Q0bR"
    "SFfznEVprqtxzdydxy5al+wcrINsn70fVGCbWSnZFnVZthFzBU5NqmXMVjxHTno/aX4/uK"
    "xAM7NS0izqsjTno3ANtgug3SO9EU9C4czfZPqnh7vbYqZj+xy9lm1S8D/g2P5GhrIrH9L7"
    "+zRwTU4hmAS2Q23Xf8ev949eQ+yXkM354S0vff9PR+b46PPwtzz9H2/uRoIy7NMZEa2IBk"
    "a5rogy3KI80YVkXdwfEijXJZM1DTP7A3PoZclfxGRCO2N9dH07vP894X25jqpu7m4/jQqY"
    "H/3+eDXMPwTIp3x2VEA9xg6CruJZkGB58hmuKe6TkpbJv7u7yZA/us7l4be/fh5dMbcvOo"
    "IZ2TSTnkvpOHLsJ0T4jGmD8R8dDBVzoiwsx/iU4w7PxZcQ/s+7X0c3V+Dn+6uP1w/XkcOJ"
    "h3dYmSX6/mp4k/cp6dy0DtNZ2JZMH5Bj2QXVskRQw4nIMO1EajiRWCcyHDyb1aa9AK3Zr8"
    "F+IrAxToOipEWpbBUgn5e5dkX8cVOZeihzDd6fXpxenpyfJupWUlImaoX0cu1wupD0K14w"
    "geZiBYllbNTgAVbZblYtB8t8CXThTLDEfxG/uUg5vnpifaNQlZO6fpmqjLhVVVE5FnQ/s/"
    "nyLHCBAP8APH5zYLIGdI4Am9L5iILx+IgNHkwsEZn6wLbejMdgZdO57QIIQsmuQFNu5BIF"
    "kvKGapyKiFKjoeCspeI9lYrF4Kgr9kiYDopqgyqa2kAtqQ02FDWtx7ehEWdcTnV/kgO2F5"
    "w74ltyvqS2I+noID+p4kVO1F7kZMOLJJlkvTUQCdQ9kfhkcFyJ5uMSno/3Zmlvr6luxGvr"
    "taZW1pr0soeS/baXPTi1ho8gMed1Bn0O1l7A7DVFfG7YHw9Oq4x7ZqYe+KIyS7fPcgxi01"
    "rLqzKmgw7mvArP52qWzzcTE+jjWtObFNE9fs+rjONz9Sg+3xjD4Xy75h6BDGgnLL+sWtJ8"
    "LuLBtYNhQSryiL4q5o4SpBNTmBJSH69+eywPhpm16Ng8HyH3Rvf9hS9D/YQnCulXru6Xqb"
    "9iOcv4D55UVoCZLcBTIcM62IQOEE30gcOcYqjQrjBZIOL/AMZjC0GuTIzHgOu1SwRdH/Cy"
    "tw6iFBFkFQnADVyhiv4rriJYeGIZOidI0n/51uHEILqmVoX3VBVOOqpqtEkAnXCDTQd0cQ"
    "6hcNZbNsRllFYpt1Yppzbxi1c8ysiXUVuRv28564tw78AtqJdAmvltmc+H5Mp7o/JAvTuq"
    "yu4okWkZeMU4qRNGc7DuTY4bUTdD1gKX2k6toZ3D6R2WFQY2ZHOCpUcL1GSl/5YheutT3j"
    "HrLautjd0pi2QBQXXGrgzRY3djwZ8QXBDf1HpZAuhCZGtDLMseI4C13YSE0eFN4SL2RJC8"
    "Z30wCswFUu1GzRr0y0RJ3p/GRNhWliUpXiC+6MpBwGcpaqgU8rWwWC8ER9gFn9cPv9wA1g"
    "qOBcYFIHjFBUex5gBWhPFL/DdFymQzF3lenFTqjOLfGhl6bL8bnWuPllR2mJmrdUXR/QXx"
    "t8SDpRCd5FRJcgLP2iafzMI01QcQLD4RqDy5kKl/PlTMuGnFSPGAXMsHAsGc95TgJYCxK+"
    "eN9YE46ML+EjNrVrli3c98N5wyj83dOfP0iCCwhBbajBG7b/47ooNehXrJVagwTagTnVNE"
    "U+tQnQjQ8vYo9rTVmA8n9l1agNrZfDjyWnVjbxamY2+VNIegcDNDXa5zOD0p3vM8Jz6+oM"
    "pz5PryPCd5RV61NOfOZdNOZM1YTsEmnh9YnpG0wGehEIjleABdC6zmPN/gb+2LXtmwBj5l"
    "FQUv/NtZq8+84k/eIw8ti78vsOA1f/KOAtY2DQQ38W4duTYu8wh+si1EDH2kc3/TJr27pO"
    "3O0Ec99aGhzi2rx3GjBssSpIODuZHDhq0K0Hs9iPVrWg+c6ydIbP7rax01zID247whv2xn"
    "zhumeX3l428JooMDf/en3/SOqB2raHrvpN472RkdLZPqoa/UiJ79urplAVZzXoFzWbCq4U"
    "xysO45k2Ym5no/4Os4PPsQeOIbNIwhhTCfs+iXSfN+alv92zzIpWQdauYSXswV+KnWSIng"
    "B+DHY2D70TayFSKmOAPrYLwIPP4exMKv8uy29WfEet6qEc/rpaY3FHstuO+l4K413+ZDS+"
    "YZqTwlkEEdZLqByazWfFvQfGUfX5/p73qpyytk2yz81IUyNprFn7g45LPGh3rgZ98Ga9sn"
    "fvRr+7bpikZk9AX79XV8dWzf4ov6pEB8iKmH6i1yaufynW+Re+3eRZ88fg07KB/hTCHRRD"
    "X9MmkmjiiVDhDCGfARcgGWvmrMt90UHgQsNX5GMGFgrY1obeQgPEs7H7WsQ3Bkrtmtxq58"
    "ZzWSkxysE2y3naGEL13jYaJWhpKF6Qyl0gur4DZMZ1Ca6D1PBYeI2Oa8KBWMakpTQZjaPJ"
    "cMqrne8Vnc15LEfaeAp07PnhDxCwObOn2QIJ0Iai2kEPyhqsFwZN5Bdt8fV9H3mVXJNx4K"
    "9H3Fh8TVQqn6M+ItaKUvE7t2poq+aDD79n/vqupR"
)
