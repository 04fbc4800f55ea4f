"""What the ``domain_checks`` hook answers (a module name of its own: a submodule called
``domain_checks`` would shadow the hook implementation on the package): a sending domain's SES identity, DKIM and MAIL FROM (SPF) as
``postgate doctor`` sees them, from one ``GetEmailIdentity`` call made off the event loop and
cached for :data:`CACHE_SECONDS`."""

from __future__ import annotations

import time
from typing import Any

from postgate import DomainCheck

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
BOOTSTRAP = "run `postgate aws bootstrap`"
#: How long one domain's answer is kept before SES is asked again.
CACHE_SECONDS = 300.0


def identity_checks(domain: str, region: str, identity: dict[str, Any] | None) -> list[DomainCheck]:
    """The identity and DKIM checks of ``GetEmailIdentity``'s answer (``None``: no such identity)."""
    if identity is None:
        return [DomainCheck("sending identity", FAIL, f"{domain} is not an SES identity in {region}",
                            f"{BOOTSTRAP} (it creates the identity) and publish the DNS records it prints")]
    out = []
    if identity.get("VerifiedForSendingStatus") or identity.get("VerificationStatus") == "SUCCESS":
        out.append(DomainCheck("sending identity", PASS, f"{domain} verified"))
    else:
        status = identity.get("VerificationStatus", "PENDING")
        out.append(DomainCheck("sending identity", FAIL, f"{domain} not verified ({status})",
                               "publish the DKIM CNAMEs printed by `postgate aws bootstrap`; SES verifies within 72 hours"))
    dkim = identity.get("DkimAttributes") or {}
    status = dkim.get("Status", "NOT_STARTED")
    if status == "SUCCESS" and dkim.get("SigningEnabled", True):
        out.append(DomainCheck("DKIM", PASS, f"{domain} DKIM {status}, signing enabled"))
    elif status in ("FAILED", "TEMPORARY_FAILURE"):
        out.append(DomainCheck("DKIM", FAIL, f"{domain} DKIM {status}",
                               "check the three CNAMEs `<token>._domainkey` (printed by `postgate aws bootstrap`) resolve"))
    elif status == "SUCCESS":
        out.append(DomainCheck("DKIM", WARN, f"{domain} DKIM verified but signing disabled",
                               f"`aws sesv2 put-email-identity-dkim-attributes --email-identity {domain} --signing-enabled`"))
    else:
        out.append(DomainCheck("DKIM", WARN, f"{domain} DKIM {status}",
                               "publish the DKIM CNAMEs printed by `postgate aws bootstrap` and wait for SES to see them"))
    return out


def mail_from_checks(domain: str, identity: dict[str, Any] | None) -> list[DomainCheck]:
    """SPF alignment through a custom MAIL FROM domain, and DMARC (which SES does not check)."""
    if identity is None:
        return []
    mail_from = identity.get("MailFromAttributes") or {}
    name, status = mail_from.get("MailFromDomain"), mail_from.get("MailFromDomainStatus")
    if not name:
        spf = DomainCheck("SPF (MAIL FROM)", WARN, "no custom MAIL FROM domain: SPF passes for amazonses.com, "
                          "not aligned with your domain for DMARC",
                          f"set [plugins.ses] mail_from_domain (e.g. bounce.{domain}) and run `postgate aws bootstrap`")
    elif status == "SUCCESS":
        spf = DomainCheck("SPF (MAIL FROM)", PASS, f"{name} verified (MX and SPF records found by SES)")
    else:
        spf = DomainCheck("SPF (MAIL FROM)", FAIL, f"{name} {status or 'PENDING'}",
                          "publish the MX and SPF TXT records of the MAIL FROM domain printed by `postgate aws bootstrap`")
    dmarc = DomainCheck("DMARC", SKIP, f"SES does not report DMARC; `postgate aws bootstrap` prints the "
                        f"_dmarc.{domain} TXT record to publish")
    return [spf, dmarc]


class DomainChecker:
    """Answers ``domain_checks`` for the SES delivery, from a per-domain cache."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[DomainCheck]]] = {}

    async def checks(self, delivery: Any, domain: str) -> list[DomainCheck]:
        identity_name = delivery.settings.sending_domain or domain
        cached = self._cache.get(identity_name)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            identity = await delivery.read_identity(identity_name)
        except Exception as exc:  # noqa: BLE001 - shown on the page, not raised into it
            results = [DomainCheck("sending identity", FAIL, f"reading {identity_name} from SES failed: "
                                   f"{type(exc).__name__}: {exc}", "run `postgate doctor` for the cause and its fix")]
        else:
            results = [*identity_checks(identity_name, delivery.settings.region, identity),
                       *mail_from_checks(identity_name, identity)]
        self._cache[identity_name] = (time.monotonic(), results)
        return results
