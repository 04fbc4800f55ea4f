"""AWS Signature Version 4 for one kind of request: a JSON ``POST`` without a query string.

:class:`SigV4Signer` signs ``Content-Type``, ``Host``, ``X-Amz-Date`` and (for temporary
credentials) ``X-Amz-Security-Token``, exactly as botocore's ``SigV4Auth`` would sign a request
carrying those headers (tests compare the two). The signing key depends only on the secret key,
the day, the region and the service, so it is derived once a day instead of four HMACs per call.
:func:`botocore_headers` signs the same request with botocore's ``SigV4Auth``: the reference
of the tests and the second variant the bench measures.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, NamedTuple

ALGORITHM = "AWS4-HMAC-SHA256"
CONTENT_TYPE = "application/json"


class FrozenCredentials(NamedTuple):
    """What botocore's ``get_frozen_credentials()`` returns (access key, secret key, token)."""

    access_key: str
    secret_key: str
    token: str | None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class SigV4Signer:
    """Signs ``POST <path>`` requests to one host for one region and service."""

    def __init__(self, host: str, path: str, region: str, service: str) -> None:
        self.host = host
        self.path = path
        self.region = region
        self.service = service
        self._key_for: tuple[str, str] | None = None  # (secret key, day) the cached key belongs to
        self._key = b""

    def signing_key(self, secret_key: str, day: str) -> bytes:
        """The day's signing key, derived again only when the day or the secret changes."""
        if self._key_for != (secret_key, day):
            key = _hmac(f"AWS4{secret_key}".encode(), day)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._key, self._key_for = key, (secret_key, day)
        return self._key

    def headers(self, body: bytes, credentials: Any, now: datetime) -> dict[str, str]:
        """Every header the signed request needs (``Authorization`` included); ``now`` in UTC."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        token = credentials.token
        canonical = f"content-type:{CONTENT_TYPE}\nhost:{self.host}\nx-amz-date:{stamp}\n"
        signed = "content-type;host;x-amz-date"
        if token:
            canonical += f"x-amz-security-token:{' '.join(token.split())}\n"
            signed += ";x-amz-security-token"
        request = f"POST\n{self.path}\n\n{canonical}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
        signature = hmac.new(self.signing_key(credentials.secret_key, day), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        headers = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-Amz-Date": stamp,
                   "Authorization": f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}"}
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers


def botocore_headers(url: str, body: bytes, credentials: Any, now: datetime, region: str,
                     service: str) -> dict[str, str]:
    """The same request's headers signed by botocore's ``SigV4Auth`` on an ``AWSRequest``."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Date": stamp}
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    request.context["timestamp"] = stamp
    auth = SigV4Auth(credentials, service, region)
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    auth._inject_signature_to_request(request, signature)  # noqa: SLF001 - botocore's own last step
    return dict(request.headers.items())
