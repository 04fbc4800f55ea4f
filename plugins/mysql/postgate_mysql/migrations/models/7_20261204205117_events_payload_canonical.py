"""Events whose payload the events API can serve as stored: ``events.payload_canonical``.

A row written with the flag holds its payload as compact JSON without ``id``, ``timestamp`` or
``event`` at the top (see ``postgate.event_json``): a page splices that text between its own
``id``/``timestamp`` and ``event`` instead of parsing and re-encoding it. Existing rows keep the
default (false) and are served as before. Adding a column with a default rewrites no row.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `events` ADD `payload_canonical` BOOL NOT NULL DEFAULT 0;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE `events` DROP COLUMN `payload_canonical`;"""


MODELS_STATE = (
    "eJztXW1v27YW/iuEP6WAW6TO67qLAXaX9WZIky3JLjYUg0xLtK1rWdQoKq632/9+SeqNki"
    "lZci3FUfmpDXkeSX5IHR4+h6T+6S2xhRz/zQhSc36PV7134J+eC5eI/Wejrg960PPSGl5A"
    "4cQRxhNuhUQZnPiUQJOy4il0fMSKLOSbxPaojV1uPHQBNE3kUWSB4S/XwISO8w7Y1Acmdi"
    "lyKfApJqwSuyYCR3879uS1iZceQb6PrFdgiglgEECQaXs2s/ff8Btb2GR3tt1Zg/cIXPuv"
    "ABkUzxCdI8Lu9OkTu/ES2i6vti209DC7vLk2Fmjd+/NPXuha6DPjRtgil+EDZHFrkyDIns"
    "+AtMfsPmX+5kBvYUxt5FiZZrEFVJQbdO2JspE9u3bpT8KWEzExTOwESze199Z0jt0EYLuU"
    "l86Qiwi/JSujJOBN5QaOEzVq3Hrhb05Nwt8jYSw0hYHDG5yjwwdIy3qGcXv3aDxcPRpGb6"
    "MzxAip7aIi1k68I7FH9QUBM/4Ir78bDE5OLgbHJ+eXZ6cXF2eXx5fMVjzvZtXFl/BhUrbC"
    "SwnOrj9c3z7yB8Kst4a9mBd8ERhIYYgSzZaynzZ1tgXezyFR858icm3Afly+DWLGyxohLk"
    "hbIX3L2miGJfxsOMid0Tn7c3B2VkLxf4b37/89vD9iVq+yRN9GVYOwjnMuOR72CsIZMlQ9"
    "vZjnLEpzXY1r5u48dtO6ZOdgHWT77O2gAtvMqpBtUZdlGzFX4NSkWsbsxHPkpA+T5reDyw"
    "o0M6tCmkVdlub8KFyDbQW0e6Q34kkonPmbTP/8cHerZjq2z9Fr2SYF/wOO7W9EKPvyIb1/"
    "TQPX5BSCSWA71Hb9N/x+P/QaYr+EbM4Pv/LS9/9yZI6PPg5/z9P//uZuJCjDPp0RcRVxgV"
    "GuKaIIVxUnupCs1e0hgXJNMlnTMLJ/YQ69LPiLmExoZ6yPrm+H938kvC/XUdXN3e2HkYL5"
    "0R+PV8P8S4B8ymdHCuoxdhB0C94FCZYnn+Ga4j4paZn8u7ubDPmj61wcfvvbx9EVc/uiIZ"
    "iRTTPhuRSOI8d+QoTPmDYY/8nBsGBOlIXlGJ9y3Mtz8SWE/3j32+jmCvxyf/X++uE6cjhx"
    "9w4rs0TfXw1v8j4lnZvWYToL25HpF+RY9kG1LBHUcCIyTDuRGk4k1okMB89mtWlXoDX7Nd"
    "hPBDbGaaAKWgqVLQVyu8y1L+KPm4rUQ5lr8Pb04vTy5Pw0UbeSkjJRK6SXa4fThaRf8YIJ"
    "NBcrSCxjowYPcJHtZtVysMyXQBfOBEv8F/GHi5TjqyfWNgWqclLXL1OVEbeqKirHgu5HNl"
    "+eBS4Q4O+Bxx8OTNaAzhFgUzofUTAeH7HOg4klRqY+sK1X4zFY2XRuuwCCULJTaMqN3EIh"
    "KW+oxqmIKF00FJxD6ThjEL0V0fx1KyKrnCnMtRZ9kFq06H111SQJ00HVblBFtBsUa3aDDc"
    "lOC/5tiNAZl1Pdn+SA7Y3+HfEtOV9S25F0tJOfVPEiJ8Ve5GTDiySDcr0kiwTqngp9Mjiu"
    "RPNxCc/HhUTXFf43gJrwSoQ/W7L2oKluZJjU2cNWsoc6kVXIftuJLE6t4SNIzHmdTp+DtR"
    "eh9JoiPtftjwenVfo9Myvu+KIyS7fPgjpi01rjpozpoIM5r8LzeTHL55sBCvRxrflkiuge"
    "v+dV+vF5cS8+3+jDocBRM/jLgPbC8vPKU83HIh5cOxgqQpFH9Llgsi5BOjFnLCH18er3x/"
    "LBMLO6IDbPj5BKyg0Tuti1TejUTFQp8TpVtSVVdSC5lF95avdnPClIp8jV/bKMikgRG//F"
    "k8pZFWYL8FSkNhzMeg0Ql+gD1tH8MOuxwmSBiP89GI8tBLkYNx4DngNZsr7oA1722kGUIo"
    "IsVVKlgTtUyamIuwgWntgciROUy5AkBtE9dSLkQBMhSUNVHe8TQCcGoqZDKrG3R6k7lHVx"
    "GaWF+Z2F+alNfHWSr4x8GbUT+Yc2a3gW7h24A/USSDO/K/P5IbnyesM8UK84rLLiUERaBl"
    "4xTuoMozlY9+SJRvTlkLXApbZiBlfStXM4vWq5QseGbE6w9KhCzy/03zJELyfMO2a9DLy1"
    "vjtlI1lAUJ2+K0N0391Y40IIVoxvxYplAujCyNa2XBmLJnXchITRw1uBizgQQfKetcEoMB"
    "eoaIV31qBfJkry9jQmwrayLEnxAvG0NwcBn4WooVLIs5GxXgiOsAs+rh9+vQHsKjgWGBeA"
    "4BUXHEXWB6wI45f4r1TKZDM32S5OFuqM4t8aEXpsvx+d64CSWnuMzIt1RdH8ivG3xIOlEB"
    "3kVAlyAs/aJZ7MwjTVL2Cw+EBg4W6gTP32oWLGTSuOFA/ItXwgEMx5TwleAhi7cn6xPhCb"
    "x9hfYmbNKles+ZnvhlPmsbk7Z54eEQSW0EKbY8T+L/8Vo4POQj1nFioME+qMzimiqTxUJw"
    "ZoeYEae9tqzIcT+y4loPY2H468Vt2xNwvTY2+VMIegcDFDXa5zOD0pPvA4J95EUhTnyPXl"
    "cU5y7GS1MOfOZdNOZM1YTMEmnu9YnJFcgc9CIRDpeABdC6zmPN7gJ2FGx6CsgU9ZheIQzb"
    "1ddcuxmfIuBWhZ/AxOxdGZ8ooCdm0aCG7i1TpybVzmEfxkW4gYcUEKm9qu7c+TNytB6zU+"
    "Bxpd6UUobTeG3gStd3d1LvseDy81WJYgHezMjewKbVWnPuhOrE9IfuFcP0Fi819fa09oBn"
    "QYG0P5bTuzMVSO46t1/hTRwY6//22KeuHUnsU2vcRSL7HsjNyWCfXQZ2pE735deVOB1ZxX"
    "4FzWtWo4kxyse86kmYm5XjbY4rLBnC5b2ZXkcNqNHHam5CHwxKe2GCEFuZKcRb8sW+Kntt"
    "U/QYZcStZhGkPCi3kZ32gcqT78VIjxGNh+tLJvhYgptiU7GC8Cjx/3qvz42H6vviV/wq9q"
    "xBqKdOmNJIpObhxkckPr680P45l3pPL0SwZ1kOkGhAOtr7egr8s+vj7TX3XS0TfItqn8ok"
    "/h2Giqv+Tzkrd/v9Q9WIfWWdueTemzLHdpikZSFgv26+v46ti+xdMrpYH4JYYeRUcrFjuX"
    "rzxa8Vv3Lnoz+Lcg1TzCWYFEE9X0y6SZeESptKcTzoCPkAuw9PF2vsRJuTez1HiLYMLAWh"
    "vR2siL8CztfLu3DsGRuWa3Grvyk9UITnKwTrDdfjaJn4PHh4maySQZpiOUSmeIwV2YzqA0"
    "0QceCg4Rsc25KhSMakpDQZjabAsGi7ne8/bobyWI+0oBrzg8e0LEVw5sxeGDBOnEoNZCCM"
    "FfqhoMR+YdZPftcRV9n1mVfPhEoe+7VPlttmKhVIK0r5U+z9i1N1X0WQezL/8HFmN89Q=="
)
