"""The ``[plugins.mailgun_relay]`` table: where the upstream Mailgun account is and how to use it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Mailgun's API in the US region (the default) and in the EU region.
US_BASE_URL = "https://api.mailgun.net"
EU_BASE_URL = "https://api.eu.mailgun.net"


class RelaySettings(BaseModel):
    """Settings of the Mailgun relay (``POSTGATE_PLUGINS__MAILGUN_RELAY__<KEY>`` in the environment)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(US_BASE_URL, description="upstream API root: https://api.mailgun.net (US) or "
                                                   "https://api.eu.mailgun.net (EU)")
    api_key_env: str = Field("MAILGUN_API_KEY", description="environment variable holding the upstream "
                                                            "account's private API key")
    domains: dict[str, str] = Field(default_factory=dict, description="Postgate sending domain -> upstream "
                                                                      "domain (unlisted: the same name)")
    concurrency: int = Field(4, ge=1, description="send calls a worker keeps in flight")
    max_connections: int = Field(32, ge=1, description="HTTP calls in flight per process (pooled client)")
    max_send_rate: float | None = Field(None, gt=0, description="messages/s shared by every worker; None: no limit")
    connect_timeout: float = Field(5.0, gt=0, description="connect timeout of every upstream call, seconds")
    timeout: float = Field(30.0, gt=0, description="read timeout of every upstream call, seconds")
    paused_retry_seconds: float = Field(300, gt=0, description="after a 401/403, wait this long before trying "
                                                                "the upstream again")
    rate_limit_backoff_seconds: float = Field(1.0, gt=0, description="shortest pause after a 429 (the pause "
                                                                     "without Retry-After); doubles with each "
                                                                     "further 429 until a call succeeds")
    rate_limit_max_pause_seconds: float = Field(300, gt=0, description="longest pause after a 429, whatever "
                                                                        "Retry-After says")
    rate_limit_max_wait_seconds: float = Field(30, gt=0, description="longest a message waits for a pause to "
                                                                      "end (at most half the lease); longer, it "
                                                                      "goes back to the ledger unsent")
    in_doubt_grace_seconds: float = Field(900, gt=0, description="a send without an answer is taken as not "
                                                                  "accepted once the upstream has shown no "
                                                                  "accepted event for it this long")
    events_poll_seconds: float = Field(15, gt=0, description="wait between event polls once caught up")
    events_page_limit: int = Field(300, ge=1, le=300, description="events per upstream page")
    events_lookback_seconds: float = Field(3600, ge=0, description="first run: read upstream events from "
                                                                   "this long ago")

    def upstream_domain(self, domain: str) -> str:
        """The upstream domain that sends for Postgate's ``domain``."""
        lowered = {key.lower(): value for key, value in self.domains.items()}
        return lowered.get(domain.lower(), domain.lower())

    def local_domains(self, configured: list[str]) -> dict[str, str]:
        """Upstream domain -> Postgate domain, for every configured sending domain."""
        return {self.upstream_domain(domain): domain.lower() for domain in configured}
