"""The plugin's state per gateway: settings, signer and recorder."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from postgate import ConfigError, Gateway

from .recording import Recorder
from .settings import TrackingSettings
from .tokens import Signer

NAME = "tracking"


@dataclass(slots=True)
class Tracking:
    settings: TrackingSettings
    signer: Signer | None  # None: no keys, so nothing is marked and every token is refused
    recorder: Recorder
    fast_hits: int = 0  # requests the fast path answered (the rest went through Quart)


_STATES: weakref.WeakKeyDictionary[Gateway, Tracking] = weakref.WeakKeyDictionary()


def required_signing_keys(settings: TrackingSettings) -> list[tuple[str, bytes]]:
    """The signing keys from ``keys_env``; :class:`ConfigError` when they are malformed, or when a
    tracking host or an unsubscribe mail domain is set and there are none. Start-up makes this
    check (:func:`tracking_for`), and ``postgate check-config`` too (the ``check_config`` hook)."""
    try:
        keys = settings.signing_keys()
    except ValueError as exc:
        raise ConfigError(f"invalid settings in [plugins.tracking]: {exc}") from None
    uses_tracking = settings.base_url or any(d.base_url for d in settings.domains.values())
    if (uses_tracking or settings.unsubscribe_mail_domains()) and not keys:
        what = "a base_url" if uses_tracking else "an unsubscribe_mail_domain"
        raise ConfigError(f"[plugins.tracking]: {what} is set but {settings.keys_env} holds no "
                          "signing key ('id:secret', the secret at least 16 characters)")
    return keys


def tracking_for(gateway: Gateway) -> Tracking:
    """The gateway's tracking state, made on first use."""
    state = _STATES.get(gateway)
    if state is None:
        settings: TrackingSettings = gateway.plugin_settings(NAME)
        keys = required_signing_keys(settings)
        state = _STATES[gateway] = Tracking(settings, Signer(keys) if keys else None, Recorder(gateway, settings))
    return state
