"""Session cookies through quart-auth, signed with the dashboard's own secret."""

from __future__ import annotations

import warnings

from itsdangerous import BadSignature, SignatureExpired
from quart import Response
from quart_auth import QuartAuth

from .settings import DashboardSettings

COOKIE = "postgate_dashboard_session"


class DashboardAuth(QuartAuth):
    """quart-auth with a secret of its own (the app's ``secret_key`` stays the core's business)
    and its cookie scoped to the dashboard's path."""

    def __init__(self, secret: bytes, settings: DashboardSettings) -> None:
        super().__init__(
            attribute_name="postgate_dashboard_user", cookie_name=COOKIE, cookie_path=settings.mount,
            cookie_http_only=True, cookie_samesite="Strict", cookie_secure=settings.cookie_secure,
            duration=settings.session_seconds, mode="cookie", salt="postgate-dashboard-session",
            singleton=False,
        )
        self.secret = secret

    def dump_token(self, auth_id: str, app: object = None) -> str:
        return self.serializer_class(self.secret, self.salt).dumps(auth_id)

    def load_token(self, token: str, app: object = None) -> str | None:
        try:
            return self.serializer_class(self.secret, self.salt).loads(token, max_age=self.duration)
        except (BadSignature, SignatureExpired):
            return None

    async def after_request(self, response: Response) -> Response:
        # quart-auth warns about Secure cookies on plain-HTTP requests (normal behind a TLS proxy)
        # and Strict cookies on redirects (ours are same-site); neither is actionable here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return await super().after_request(response)
