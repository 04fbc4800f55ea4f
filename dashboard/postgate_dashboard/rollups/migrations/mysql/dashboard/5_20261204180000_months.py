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
    "eJztXFtv27gS/iuEn2LAKRwnaXPSp7Zod7tom6JJzx5gu7Bpiba4lkmtSMUxFv3vZ4YSdf"
    "FtJWOd0F29BDHFkaj5OPcR/+r4VAVjSWP/2RuZCN25Jn91BJ0z+GftWo90aBRVruCYpuOw"
    "On/o4XxlCMZKx9TDG09oqBgM+Ux5MY80lwKpfpYLMqdiSdg9AyIiJ0QKRmZc+GTCwpBwoa"
    "UZUiH32DWhxJdzykWPKCb8Holiec99FhMZE02nPTJekkAmMT7elx48n4vpQZ/0TVC4BZ3C"
    "VBzy6ZKcIIUiNGZESE1UFHKN1zSfw411wHhMxok3Y5pwRfrdZ7jaRPA/EzbUcspgRgxr/u"
    "23TroE8zJAKxSyDX7c0zBh+E96F/wPX6Tz++/wH/zDHpjCG+DPaDaccBb6FXS5Ac+MD/Uy"
    "MmOv+fS90O/MXHzgGJAMk7ko5kdLHUiRE/B0W0yZYDHVDJ+g4wRRFkkYZhvDAp++XjElXW"
    "WJxmcTmoS4V5A6XUAx1hkOP93cDW/f3g2HnbV9ZClKgGdDnhS4BznuSGTAFJdw+p/B4Pz8"
    "xaB//vzq8uLFi8ur/hXMNetdv/Tie7qYglvprQzP3v/0/tMdLkjCRk8lAQe+GxqqaUplwC"
    "jJVo5qFYE3AY0387+gWMEAXm4VA8vxXSDYgQKFQkAfA4Y5fRiGTEx1AD8Hl5c7WPzfV1/e"
    "/PzqywnM6lYZ/Sm7NEivIc9LPC7LS202l4lc5nRnp26yqqmHv1GlgbIDnQK6iYdLHFCr6r"
    "EOTGeDGiidDbaChJeqGOVqrC4+OYHT2CCrERcyY8s1bF4SNo/0kkzgZ0m7uyAyhTGpbxgK"
    "mr83Dk8IidI01lYMUDTICfKfLrs9wiLpBQAYMNxXL0nfQGMseE1kHtGmFGAZe99AdOx8py"
    "VnEVBNFlQR40My/5r4LOT3LGag5GQEi/SH2Rr2EZqLOjJzsV1kLlYlZoNx2SUsm8zKAeWk"
    "f/ROFPqvk1nJh8KBMfVmCww01q7Igdw2d/3SfDBfHaGCTg0v8b1TD84GQW8xavgsw7CzOU"
    "gqrtcPlEwkMoyAqGa09GvABMQlXsiBkJz8FEiluySkSpOYUd8ot2p4g2oMoMxDGRAtjIGm"
    "sNMWEKiAbfKYUkTRBeH62VrQ9BgP3BD3tFGMKwLodhRzCBA6qzs4lAtw3jyq9rM5h3DUUG"
    "WAJaQNfbUKmdPuWsUls25bCOsCxZPpG6N/hMSlOiczBVKJYvEQjIrYANV2OalSOe2xfYWl"
    "nr7CpVqYEBgGoaeX6L0Ept+vIzD9/naBwWsu+Q7vIOxOYrbFc7BX6/sNk5SiaYrVkllTjZ"
    "ztkduPd5/B3fbhXyYCKjzmE4iWdKLMKMHkJijCcCwfilA2T5huT7Me4mnfBN4pDd9GI5PN"
    "GI3S9+7aVMfXuzdpDraYgFahe01McIE7dAzBhQeOy0MUyhjuP41lEqlaSVi844a8q9nUvs"
    "HQvpaR3OwN2rysS9rZZY/mX5CXtSK0ssmlDBkVW7hsaVaYPAYid7jcQYHBulGmgl6md4UR"
    "sbEktRmCXZv65uYD3mSu1J9hustXtvinrx9fv/1ycmYAgUlcb/FL2lRfm917dGRg9X6PKD"
    "nR8DeJIvAOFNh/QMeT8yik2T56+rqEteV1uW/nO839LJO6PE39rWeZF2aKEQvM86BztQ//"
    "r2qw/2or969WmV92oOoCUHG6jgkEu/DTfwyNs+d1pOH5dml4vpZtsF5sA0DKNE4DshZs5F"
    "GsxyPO9tNI53U00vl2jXS+ppHaQsO/pdDwjsdqWydWeq1XP1GA82umCe5g05v5ps5mjHLI"
    "vZkN33N5gEA8T/RnMfWcziDOT3dMWrmzv9YrCod7zN/XEcqRPNVpUN5G4e5F4XzKVKN8aU"
    "HhcF0hALHEbV7t3Ck2PKa+rBv/9AanTYUcPhWS1n+bKpsyldOBuGmD0jKGEM+sGfyqrLtj"
    "Yu2YWyqpQKZpZe04S2o0K6a5hoQ7ztgHLma7WuOL6/WdshBoavpkb9A1ArBSVwgJy20W12"
    "Q0QoMxGmEX+WhkHCkGP3vFj2GQwPvBjBMhyVhqMgnptNtbc8sO9qRvopiRbnGYAl7f6mhB"
    "zijs08IsSizVRBCY4aK6zwg6kGZ9XH0TM7YE7TJeEkqseeXgFS4CGTLy9cuHlyaW0+xBkx"
    "mLdNrZF8gF1vfhTbAQ5DO/TuUH2TCEx5mpcWj/3dh1v43OWnfRup6uup6t13Nwr6csEXW5"
    "XKZp+VyPzyUtVbvvpCBxmcudcUhnbDA+PRtc2XxdrvJ7JGAPbsRQwM6G3Hee88hqw2QvAX"
    "9ekrP+4IJ48Ergx7B4v89K+rX6snHa9qR1f703+0csoe2rX9rG9yNzUtwJgT4+fIGYMa56"
    "qRsu1w+A5g/1M9LrvWDospNJLOdG7X/8H8GedLWeP7ZpNuP3Q4TGQ4g52EPEY6aGVI9GG1"
    "PTB3zeN3FCMfiIQVGCueIhSwt9prVVytlpEpmmubQinj4XQim7EvPdMBFsSjW/Z8SDKIlt"
    "/XC4bTdzRZDdjjYOkuhelwkXW+h/5KJ2rr3MB6gStULRVGAysICRnAquanfPH9hVNkq1CR"
    "Y5gdNA5OZijJ8+sQmLmfDgrp6cz8EYsIiaRe7dLH9Zq/fpckfz0+V691NqhDYYhl0tmgXR"
    "I/Zo5iMNmzStMBAqVKqZ5oyc4OkcpzLB5jQW36PtT1vYu/WQeZzGTbD6JmvatEJRpTu2Sk"
    "XuIblWqqiU83Jnr2FBr0J3RNDQSebKwhg3R9kgSuC/gidrzsNxDS13oqrPsZxi++stnUdm"
    "hZtiq5VJ9SMsky6NMup6wRZ+tzOhcV7yIVOJRRJQhySg+KvoyDGrISqUOmvMwZKLfRpYMt"
    "CdxI/pQq13/xzsKQ2qN7bzp1KwaduB2ijpSHJ5bU2modEypxYQhqmdU+5bhwKX70w0+gP2"
    "m1Q+wylp8yP6CMe8wh6+dpXOaZSqDp3Om3PHVHtBWVRM1oB6Hosc/+JeS003lN124ZWTOA"
    "1VnlZTe6iwJ4HCzz5hqY+EpTgWIAIqfEzY44GfoNmK9L0fyyhifs3UwdPAszXPswOgrWke"
    "ZyFagPVn9hixJSlewFVY8hPPGopOmcxpcPKVlo6Oys1MdvAbURIDRddwcieBcIu6f3Pa4D"
    "YzCw2SBTWTBDc2bD+hRLCFCpnWWJmsetjg4QG1gXQOsTq8AuF+F08CsygrEnIgwE5MtfHc"
    "sUM+qG6qYFdXp3GSMv+O+23qoE0dtKmDBlw+ltSBS3w2Sm/jx0I7Posv0ezF50xluMnms0"
    "Gdkwdg1o6TH9ZOH1DJ+A/mNfr6sETyeJu502nodeUtTGmAX/oiCzPvex42cJCdrum0USuA"
    "ne8w83+5vflkXBFzIGqKgGJsr6O/D9UvW/ZpGgSEJSqno461qjLWk0qy4FqoUYYGD9xtjE"
    "yJ6PiAKZ/16Roy7gSBv8p4xuLXjG77PrE0oVc7IFwYogbHRmRgBYzGegzPss2x6Y2wKSDC"
    "DFkaqY1G6fAwnz4akUDKWXfzYRH/5M3rHBGBannYloOdjenkQjTr2swJHG6ZNbsY35CgPy"
    "aVvo64f63lbD8X4SBuGS6rCd/t/DbAq9mRvEmvbD/L2/0DIJoqlsHZxYuLq/PnF7k+yUd2"
    "qZG2blv1ZnPT55rfVM0apVa2GT4F0fGBs+rHuIbOk3q13/8PwBJhWQ=="
)
