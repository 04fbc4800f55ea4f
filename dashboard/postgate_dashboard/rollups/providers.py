"""Which mailbox provider hosts a recipient domain.

The domain's name tells the consumer services (gmail.com is Gmail). A domain hosted by Google
Workspace, Microsoft 365 or another provider under its own name is only recognisable by its MX
hosts: :mod:`.mx_directory` looks them up off the recording path and hands the answers in as the
``hosted`` mapping (domain to provider), consulted before the name rules.
"""

from __future__ import annotations

from collections.abc import Mapping

GMAIL, WORKSPACE, MICROSOFT, MICROSOFT_365 = "gmail", "google_workspace", "microsoft", "microsoft_365"
YAHOO, ICLOUD, PROTON, FASTMAIL, ZOHO, OTHER = "yahoo", "icloud", "proton", "fastmail", "zoho", "other"

#: Display names, in the order the views list providers.
LABELS: dict[str, str] = {
    GMAIL: "Gmail", WORKSPACE: "Google Workspace", MICROSOFT: "Outlook / Hotmail",
    MICROSOFT_365: "Microsoft 365", YAHOO: "Yahoo / AOL", ICLOUD: "iCloud", PROTON: "Proton",
    FASTMAIL: "Fastmail", ZOHO: "Zoho Mail", OTHER: "Other",
}

#: Whole domains of the consumer mailbox providers.
EXACT: dict[str, str] = {
    "gmail.com": GMAIL, "googlemail.com": GMAIL,
    "msn.com": MICROSOFT, "passport.com": MICROSOFT,
    "icloud.com": ICLOUD, "me.com": ICLOUD, "mac.com": ICLOUD,
    "proton.me": PROTON, "protonmail.com": PROTON, "protonmail.ch": PROTON, "pm.me": PROTON,
    "ymail.com": YAHOO, "rocketmail.com": YAHOO, "aim.com": YAHOO,
    "fastmail.com": FASTMAIL, "fastmail.fm": FASTMAIL, "zohomail.com": ZOHO,
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


#: MX host endings (a whole host or its parent domain) and the provider hosting a domain whose MX
#: points there. Google's and Microsoft's consumer domains are matched by name above, so an MX
#: answer means their business offers.
MX_ENDINGS: dict[str, str] = {
    "google.com": WORKSPACE, "googlemail.com": WORKSPACE,
    "mail.protection.outlook.com": MICROSOFT_365, "mx.microsoft": MICROSOFT_365,
    "yahoodns.net": YAHOO, "mail.icloud.com": ICLOUD, "protonmail.ch": PROTON,
    "messagingengine.com": FASTMAIL, "zoho.com": ZOHO, "zoho.eu": ZOHO, "zoho.in": ZOHO,
    "zoho.com.au": ZOHO, "zohomail.com": ZOHO,
}


def provider_of_mx(hosts: list[str]) -> str:
    """The provider of a domain whose MX hosts are ``hosts`` (most preferred first): the first
    host that ends in one of :data:`MX_ENDINGS` decides; :data:`OTHER` when none does."""
    for host in hosts:
        labels = host.strip().lower().rstrip(".").split(".")
        for start in range(len(labels)):
            found = MX_ENDINGS.get(".".join(labels[start:]))
            if found:
                return found
    return OTHER
