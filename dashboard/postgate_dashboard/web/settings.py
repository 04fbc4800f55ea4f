"""``[plugins.dashboard]`` settings of the web shell."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class DashboardSettings(BaseModel):
    """Where the dashboard is mounted and how sign-in behaves."""

    model_config = ConfigDict(extra="forbid")

    mount: str = "/dashboard"
    #: ``host:port`` to serve the dashboard on a listener of its own (not on the API's); unset:
    #: served by the gateway's listener under ``mount``.
    listen: str | None = None
    #: Signs the session cookie and the CSRF tokens; generated into the data folder when unset.
    secret_key: SecretStr | None = None
    #: Send cookies only over HTTPS. Turn off only for plain-HTTP development on 127.0.0.1.
    cookie_secure: bool = True
    #: Wrong passwords in a row before an account is locked.
    login_attempts: int = Field(default=5, ge=1, le=100)
    #: How long a locked account stays locked.
    lockout_seconds: int = Field(default=900, ge=1)
    #: Failed sign-ins one client address may make per ``lockout_seconds`` (any accounts).
    address_attempts: int = Field(default=20, ge=1)
    #: Operations warns when sends go on this long without a provider event on their domain.
    events_silence_seconds: int = Field(default=900, ge=1)
    #: Session length in seconds.
    session_seconds: int = Field(default=12 * 3600, ge=60)

    @field_validator("listen")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        if value is not None:
            from .listener import split_address

            split_address(value)
        return value

    @field_validator("mount")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/" or value.startswith(("/v3", "/v4")):
            raise ValueError("mount must be a path of its own, such as /dashboard")
        return value
