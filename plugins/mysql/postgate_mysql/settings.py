"""``[plugins.mysql]``: where the MySQL/MariaDB server is and how big the pool may grow."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class MysqlSettings(BaseModel):
    """Either ``url`` (``mysql://user:password@host:3306/database``) or the separate fields."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = Field(None, description="full connection URL; overrides host/port/user/...")
    host: str = "127.0.0.1"
    port: int = Field(3306, ge=1, le=65535)
    user: str = "postgate"
    password: SecretStr = Field(SecretStr(""), description="better set from POSTGATE_PLUGINS__MYSQL__PASSWORD")
    database: str = "postgate"
    minsize: int = Field(1, ge=0, description="connections the pool keeps open")
    maxsize: int = Field(10, ge=1, description="most connections the pool opens")
    charset: str = "utf8mb4"

    @model_validator(mode="after")
    def _check(self) -> MysqlSettings:
        if self.minsize > self.maxsize:
            raise ValueError("minsize must not exceed maxsize")
        if self.url is not None and not self.url.get_secret_value().startswith("mysql://"):
            raise ValueError("url must start with mysql://")
        return self

    def db_url(self) -> str:
        """The tortoise URL these settings describe."""
        if self.url is not None:
            return self.url.get_secret_value()
        password = quote(self.password.get_secret_value(), safe="")
        return f"mysql://{quote(self.user, safe='')}:{password}@{self.host}:{self.port}/{self.database}"
