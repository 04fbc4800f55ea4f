"""``python -m bench --only sendpath``: Postgate's whole send path against a bare boto3 loop, in one run.

Everything talks to :class:`~postgate_ses.standin.SesStandin` (a local SES v2 that answers at once
and records each send's recipient, user agent and request size), with Ghost batches of 1000
recipients whose HTML is padded to ``--sendpath-kb`` KiB (a real newsletter's ~70 KB message):

- **bare boto3**: ``sesv2.send_email`` Raw calls of the same size and shape (EmailTags,
  configuration set, tracking overrides) from a thread pool as wide as the plugin's
  ``send_threads``, with a client built by the plugin itself, in a child process of its own (as
  the gateway's workers are), before and after the Postgate runs; its figure is their mean.
- **Postgate**: the scale-out stack of :mod:`bench.scaleout` (API process, jobs on the SQS
  stand-in of :mod:`bench.sqs_standin`, MariaDB, N worker processes), from the first POST until the last recipient reached the
  stand-in, with ``send_client = "http"`` for 1 and 2 worker processes and ``"boto3"`` for 1.
- **per call**: CPU time of one ``SendEmail`` in a child process making calls one after another:
  boto3, ``aiohttp`` + botocore's ``SigV4Auth``, ``aiohttp`` + the plugin's signer (cached key),
  ``httpx`` + the plugin's signer; and the signing alone for both signers.

Ratios are to the bare loop of the same run; "sent twice" counts recipients the stand-in saw more
than once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import subprocess
import sys
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .aws import DUMMY_AWS, REGION
from .ghost_form import ghost_html

THREADS = 8


# -- the bare loop and the per-call figures (child processes) ------------------------------------


def newsletter_mime(html_kb: int) -> bytes:
    """A Ghost-like message of about ``html_kb`` KiB with ``%TO%`` where the recipient goes."""
    message = EmailMessage()
    for name, value in (("From", "My Blog <noreply@mg.example.com>"), ("To", "%TO%"),
                        ("Subject", "Weekly issue for Member"), ("Sender", "My Blog <noreply@mg.example.com>"),
                        ("List-Unsubscribe", "<https://blog.example.com/unsubscribe/?uuid=0123&key=k>"),
                        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                        ("Message-Id", f"<{secrets.token_hex(16)}@mg.example.com>")):
        message[name] = value
    message.set_content("Hi Member\n" + "This week's issue.\n" * 20)
    message.add_alternative(ghost_html(html_kb).replace("%recipient.name_html%", "Member&nbsp;1"), subtype="html")
    return message.as_bytes().replace(b"\n", b"\r\n")


def send_params(raw: bytes, to: str, index: int) -> dict[str, Any]:
    """The parameters Postgate's ``ses`` delivery sends for one recipient."""
    return {"FromEmailAddress": "noreply@mg.example.com", "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": raw.replace(b"%TO%", to.encode())}},
            "EmailTags": [{"Name": "pg_batch", "Value": "1"}, {"Name": "pg_rcpt", "Value": str(index)},
                          {"Name": "pg_domain", "Value": "mg_example_com"}],
            "ConfigurationSetName": "postgate",
            "ConfigurationOverrides": {"Tracking": {"OpenTrackingEnabled": "ENABLED",
                                                    "ClickTrackingEnabled": "DISABLED"}}}


def _sender(url: str, threads: int) -> Any:
    from postgate_ses import aws
    from postgate_ses.settings import SesSettings

    return aws.ses_client(SesSettings(region=REGION, endpoint_url=url, send_threads=threads), sending=True)


def bare_loop(url: str, recipients: int, threads: int, html_kb: int) -> dict[str, Any]:
    """``recipients`` boto3 sends from ``threads`` threads; seconds and CPU seconds."""
    client = _sender(url, threads)
    raw = newsletter_mime(html_kb)
    stamp = secrets.token_hex(4)
    client.send_email(**send_params(raw, f"warm.{stamp}@example.com", 0))
    addresses = [f"bare{i}.{stamp}@example.com" for i in range(recipients)]
    started, cpu = time.perf_counter(), time.process_time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(lambda i: client.send_email(**send_params(raw, addresses[i], i))["MessageId"],
                            range(recipients)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"recipients": len(ids), "seconds": seconds, "cpu_seconds": cpu, "addresses": addresses}


def per_call(url: str, calls: int, html_kb: int) -> dict[str, float]:
    """CPU milliseconds per sequential ``SendEmail`` for each client, and µs per signature."""
    import botocore.credentials
    from postgate_ses.http_send import SEND_PATH, HttpSendClient, canonical_host, request_body
    from postgate_ses.sigv4 import SigV4Signer, botocore_headers

    boto = _sender(url, 1)
    credentials = botocore.credentials.Credentials("testing", "testing", "testing")
    raw = newsletter_mime(html_kb)
    figures: dict[str, float] = {}

    def cpu_per_call(run: Any) -> float:
        run(0)  # warm-up: the connection
        started = time.process_time()
        for i in range(1, calls + 1):
            run(i)
        return 1000 * (time.process_time() - started) / calls

    figures["boto3_ms"] = cpu_per_call(lambda i: boto.send_email(**send_params(raw, f"c{i}@example.com", i)))

    class BotocoreSigned(HttpSendClient):
        def signed_headers(self, body: bytes, frozen: Any = None) -> dict[str, str]:
            frozen = frozen or self.credentials.get_frozen_credentials()
            headers = botocore_headers(self.url, body, frozen, datetime.now(timezone.utc),
                                       self.signer.region, self.signer.service)
            return {**headers, "User-Agent": self.user_agent}

    class OverHttpx(HttpSendClient):
        """The same signed request over httpx's async client (the other pooled client measured)."""

        async def send_email(self, params: dict[str, Any]) -> str:
            import httpx

            if not hasattr(self, "httpx"):
                self.httpx = httpx.AsyncClient()
            body = request_body(params)
            response = await self.httpx.post(self.url, content=body, headers=self.signed_headers(body))
            return str(response.json()["MessageId"])

        async def aclose(self) -> None:
            await self.httpx.aclose()
            await super().aclose()

    for name, kind in (("aiohttp_botocore_signer_ms", BotocoreSigned), ("aiohttp_own_signer_ms", HttpSendClient),
                       ("httpx_own_signer_ms", OverHttpx)):
        async def measure(kind: Any = kind) -> float:
            client = kind(boto, credentials, connections=1, connect_timeout=5, read_timeout=30)
            await client.send_email(send_params(raw, "warm@example.com", 0))
            started = time.process_time()
            for i in range(1, calls + 1):
                await client.send_email(send_params(raw, f"h{i}@example.com", i))
            figure = 1000 * (time.process_time() - started) / calls
            await client.aclose()
            return figure

        figures[name] = asyncio.run(measure())

    target = boto.meta.endpoint_url + SEND_PATH
    signer = SigV4Signer(canonical_host(target), SEND_PATH, REGION, "ses")
    body = request_body(send_params(raw, "s@example.com", 1))
    frozen = credentials.get_frozen_credentials()
    for name, sign in (("sign_botocore_us", lambda: botocore_headers(target, body, frozen, datetime.now(timezone.utc),
                                                                     REGION, "ses")),
                       ("sign_own_us", lambda: signer.headers(body, frozen, datetime.now(timezone.utc)))):
        started = time.process_time()
        for _ in range(calls):
            sign()
        figures[name] = 1e6 * (time.process_time() - started) / calls
    figures["request_bytes"] = len(body)
    return figures


def _child(*args: str) -> dict[str, Any]:
    env = {**__import__("os").environ, **DUMMY_AWS}
    done = subprocess.run([sys.executable, "-m", "bench.sendpath", *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"bench.sendpath {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the run -------------------------------------------------------------------------------------


def bench_sendpath(workdir: Path, *, recipients: int, html_kb: int, mysql_url: str,
                   calls: int = 300) -> dict[str, Any]:
    from postgate_ses.standin import SesStandin

    from .scaleout import ScaleoutStack, SqsStandinProcess, _query, run_scaleout

    folder = workdir / "sendpath"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pgbench_{secrets.token_hex(6)}"
    figures: dict[str, Any] = {"recipients": recipients, "html_kb": html_kb, "threads": THREADS}
    sqs = standin = stack = None
    _query(mysql_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        sqs = SqsStandinProcess()
        standin = SesStandin().start()
        stack = ScaleoutStack(folder, aws_url=sqs.url, mysql_url=mysql_url.rstrip("/") + "/" + name,
                              standin=standin, html_kb=html_kb)
        stack.migrate()
        stack.start_api()

        def bare(label: str) -> float:
            standin.clear()
            run = _child("bare", standin.url, str(recipients), str(THREADS), str(html_kb))
            seen = standin.per_recipient()
            twice = sum(1 for a in run["addresses"] if seen[a.lower()] > 1)
            size = _mean_size(standin)
            rate = run["recipients"] / run["seconds"]
            figures[label] = {"recipients_per_s": rate, "cpu_ms_per_recipient": 1000 * run["cpu_seconds"] / recipients,
                              "sent_twice": twice, "request_bytes": size}
            print(f"sendpath bare boto3 ({label}): {rate:7,.0f} recipients/s, "
                  f"{figures[label]['cpu_ms_per_recipient']:.2f} ms CPU each, {THREADS} threads, "
                  f"{size / 1024:.0f} KiB requests, sent twice {twice}", flush=True)
            return rate

        baseline = [bare("bare_before")]
        for label, count, client in (("postgate_http_1", 1, "http"), ("postgate_boto3_1", 1, "boto3"),
                                     ("postgate_http_2", 2, "http")):
            run = run_scaleout(stack, workers=count, rate=100_000.0, recipients=recipients, warmup=20 * count,
                               env={"POSTGATE_PLUGINS__SES__SEND_CLIENT": client})
            figures[label] = {**run.as_dict(), "request_bytes": _mean_size(standin)}
            print(f"sendpath postgate send_client={client} {count} process(es): {run.recipients_per_s:7,.0f} "
                  f"recipients/s ({recipients} in {run.seconds:.2f} s), worker CPU "
                  f"{1000 * run.worker_cpu_seconds / recipients:.2f} ms per recipient, "
                  f"{figures[label]['request_bytes'] / 1024:.0f} KiB requests, sent twice {run.duplicates}, "
                  f"missing {run.missing}, per worker {dict(sorted(run.per_worker.items()))}", flush=True)
            time.sleep(1.5)
        baseline.append(bare("bare_after"))
        base = sum(baseline) / len(baseline)
        figures["bare_mean"] = base
        for label in ("postgate_http_1", "postgate_http_2", "postgate_boto3_1"):
            figures[label]["ratio_to_bare"] = figures[label]["recipients_per_s"] / base
        print("sendpath ratio to the bare loop ({:,.0f}/s): http 1 process x{:.2f}, http 2 processes x{:.2f}, "
              "boto3 1 process x{:.2f}".format(base, *(figures[k]["ratio_to_bare"] for k in (
                  "postgate_http_1", "postgate_http_2", "postgate_boto3_1"))), flush=True)
        standin.clear()
        figures["per_call"] = micro = _child("micro", standin.url, str(calls), str(html_kb))
        print(f"sendpath per call ({calls} sequential, {micro['request_bytes'] / 1024:.0f} KiB, CPU): "
              f"boto3 {micro['boto3_ms']:.2f} ms, aiohttp + botocore SigV4Auth {micro['aiohttp_botocore_signer_ms']:.2f} ms, "
              f"aiohttp + own signer {micro['aiohttp_own_signer_ms']:.2f} ms, httpx + own signer "
              f"{micro['httpx_own_signer_ms']:.2f} ms; signing alone: botocore "
              f"{micro['sign_botocore_us']:.0f} µs, own {micro['sign_own_us']:.0f} µs", flush=True)
    finally:
        if stack is not None:
            stack.close()
        if standin is not None:
            standin.stop()
        if sqs is not None:
            sqs.stop()
        _query(mysql_url, f"DROP DATABASE IF EXISTS `{name}`")
    return figures


def _mean_size(standin: Any) -> float:
    sizes = [send.size for send in standin.sends()]
    return sum(sizes) / len(sizes) if sizes else 0.0


def _main(argv: list[str]) -> None:
    what, url, *rest = argv
    if what == "bare":
        recipients, threads, html_kb = map(int, rest)
        print(json.dumps(bare_loop(url, recipients, threads, html_kb)))
    elif what == "micro":
        calls, html_kb = map(int, rest)
        print(json.dumps(per_call(url, calls, html_kb)))
    else:
        raise SystemExit(f"unknown part {what!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])

