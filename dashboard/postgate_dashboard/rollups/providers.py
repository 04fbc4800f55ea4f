"""Which mailbox provider hosts a recipient domain.

Today the answer comes from the domain's name alone (gmail.com is Gmail). A domain hosted by Google
Workspace or Microsoft 365 under its own name is only recognisable by its MX hosts: that is a
later step, which plugs in as a ``hosted`` mapping (domain to provider, filled from cached MX
look-ups off the recording path) consulted before the name rules.
"""

from __future__ import annotations

from collections.abc import Mapping

GMAIL, WORKSPACE, MICROSOFT, MICROSOFT_365 = "gmail", "google_workspace", "microsoft", "microsoft_365"
YAHOO, ICLOUD, PROTON, OTHER = "yahoo", "icloud", "proton", "other"

#: Display names, in the order the views list providers.
LABELS: dict[str, str] = {
    GMAIL: "Gmail", WORKSPACE: "Google Workspace", MICROSOFT: "Outlook / Hotmail",
    MICROSOFT_365: "Microsoft 365", YAHOO: "Yahoo / AOL", ICLOUD: "iCloud", PROTON: "Proton", OTHER: "Other",
}

#: Whole domains of the consumer mailbox providers.
EXACT: dict[str, str] = {
    "gmail.com": GMAIL, "googlemail.com": GMAIL,
    "msn.com": MICROSOFT, "passport.com": MICROSOFT,
    "icloud.com": ICLOUD, "me.com": ICLOUD, "mac.com": ICLOUD,
    "proton.me": PROTON, "protonmail.com": PROTON, "protonmail.ch": PROTON, "pm.me": PROTON,
    "ymail.com": YAHOO, "rocketmail.com": YAHOO, "aim.com": YAHOO,
}

#: Brand names a provider uses under many country endings (hotmail.co.uk, yahoo.fr, aol.de).
BRANDS: dict[str, str] = {
    "outlook": MICROSOFT, "hotmail": MICROSOFT, "live": MICROSOFT, "windowslive": MICROSOFT,
    "yahoo": YAHOO, "aol": YAHOO,
}


def _country_ending(labels: list[str]) -> bool:
    """``com``, ``fr``, ``co.uk``, ``com.au``: one or two short labels after the brand."""
    return 1 <= len(labels) <= 2 and all(1 < len(label) <= 3 for label in labels)


def provider_of(domain: str, hosted: Mapping[str, str] | None = None) -> str:
    """The provider key (see :data:`LABELS`) of a recipient domain."""
    domain = domain.strip().lower().rstrip(".")
    if hosted and domain in hosted:
        return hosted[domain]
    if domain in EXACT:
        return EXACT[domain]
    brand, _, rest = domain.partition(".")
    if brand in BRANDS and _country_ending(rest.split(".")):
        return BRANDS[brand]
    return OTHER
