from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS `tracking_domains` (
    `domain` VARCHAR(255) NOT NULL PRIMARY KEY,
    `opens` BOOL,
    `pixel_top` BOOL COMMENT 'open pixel at the top of the HTML',
    `clicks` VARCHAR(8) COMMENT 'yes, no or htmlonly',
    `unsubscribe` BOOL COMMENT 'signed unsubscribe links filled in',
    `updated_at` DOUBLE NOT NULL COMMENT 'epoch seconds'
) CHARACTER SET utf8mb4 COMMENT='The tracking switches of a sending domain as last set through the Mailgun API';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS `tracking_domains`;"""


MODELS_STATE = (
    "eJztWm1P4zgQ/itWPoHELksp0Lv71EKXra60iC2nlTgUuYnbWnXtbOwA1Yr/vjNOQ5q06Q"
    "aOg7DiE8m82JNnPC+e8sMxIfWmXI4/DvCB+V0up86f5Icj6YzBw3qBHeLQIFhmI8nQocjo"
    "uAKEtZUeaiQa4I6o0AxIPtNeyAPDlUSdJkFhokaEkiE13oRQTbght/hHEjNhZMa0pmNGtr"
    "4MzrofIgkL0ID52ztkOAdRlPPZ3Ufcz1cebIh2PfvSkeTfI+YaNWagGcIGV1eOXdblPgrg"
    "Zq6Vd66v4d0+Mo2C+BpM3RFnws+gHGtaumvmgaW1+LgjzWcri580dD0loplM5YO5mSj5oM"
    "ClQeqYSRZSw3AHE0aItYyEWDgngT/+jFQktnJJx2cjGgn0GGrHBqQ0x3V7/YH7tT1wXWfF"
    "m4nGkhcWJE9JPAlgqrYAjNGED3/Uavv7R7VP+4eNg/rR0UHjUwOBRN4q6+g+NiZFK17KYt"
    "Y57fQGaJCC4xafRiTcWx1qaKxlnZGiv+y98j5Y1vq1JxLcN7kiIaS+SIPlN3NGCv5SuKzA"
    "X4h9Vul3Qr+2Vz+qN/YP6w+gP1A2Yb2KaxSKVUAH7K4A0YV4Dkow8A1CuQGnQfubPZEzrb"
    "8LJPT+aV4cf2lebJ01v21bznzB6fZ7p4l4eoB7x91+C6DGVD6aLqUTJAyh7t3S0HdXOKqm"
    "imRXWbPaLE+hEsqTv/hi/L5sXYaHEzUDADbU7lSmbPn2rXjJAj6AMppoEn3LITkyHRddza"
    "SP1Hg9rL6CagNkA8U3VNF4YovwGeViHEnSPO+s1PBnXf1fuXV+OSC7N/u7i0/c7TXP2rvJ"
    "Brt/d3on23+RnpKMCEZvYCu62JUYZZeD5Q2IajLighU1BmXLv//gl2y4Hk9ouD5cU43nid"
    "jX7QJm9M4VTI7NBPPdwcGGAE7CFaS2c5G5YNVi3uaSrwIWH+xcvVcK/C3XY/6gk4N8CEol"
    "MF8g+gaSZKvf72aSZKuTz4KXZ632xdaedQEIcVNQ3QN+xwTERPBIrDN6VcbbngpizSXU2N"
    "QAVmNmwke8TuRz2Wu6wxPcm64598WJJtV4UqJ5ISfMmd4hUhEVkomZCSXFvBzs2dTTKJF4"
    "GoVpp7Gdb8GkjoZo55A98vjnNCsdAJqPJfPJksn2vm0rowBGXKaqEgFR4CNiLjWrLvksFC"
    "1qjzNqOX+MUK86fbLDAgWNimYAsK//M/gn/ctWt03OL9rHna+dfi/TJMfMLOgX7Wa3ih3y"
    "F242t8coULY3nnBTsjHuQxN52h7EzWpcKCBNmXicZkNlh0xZYMjtxDaOyJXK4IRqyDywlV"
    "BJ2A2TZnW09cxr/7qFzY66QubxgIM2voPklQNxcP0+5arklOuRGe8905XOdMv1BZLDmlNe"
    "3F8l8lUevMQ9LqQO2wxWoLF6/fvyaw8L/68b8/tQvBJD8UxhfZQD8prvTnhzv0xUbFD03D"
    "9M8DWzoOLEzddNgCo1ewigrcZZDw9IEPIb6s2T4fBTKuVhvUQqP6wXZnJk5W68moUu3I3k"
    "mv6vGPes1ssVTcd5kZJ5sFcrgTNIFQJtebmSqR4F8UK8utg6bBaY+Q6BC7GAlcbQQtn7pb"
    "WNe0853nuHJWDfOyxEHVm5UhmJNdO1YtQT+QrDbv8jhXoTDrd7NBfSCzVkxEPmVyOlQJOh"
    "Qp+ta002TTWX1Z420nypC08yLlmdkySTffui1/1W+dLTzVeds93/BFYKK0g="
)
