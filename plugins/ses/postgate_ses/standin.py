"""A fast local stand-in for SES v2 on a loopback port, for benchmarks and rate tests.

moto's SES stores every message and answers a few hundred sends per second at best, so it cannot
show how fast Postgate sends or whether a send rate holds. :class:`SesStandin` is a minimal
HTTP/1.1 server (asyncio, in its own thread) that answers the two calls the ``ses`` delivery
makes, ``SendEmail`` (``POST /v2/email/outbound-emails``) with a fresh ``MessageId`` and
``GetAccount`` (``GET /v2/email/account``) with a healthy account, and records when each send
arrived and for whom (``latency`` holds each send's answer back, as SES's tens of milliseconds
would). Point ``[plugins.ses] endpoint_url`` at :attr:`SesStandin.url`.

A send is recorded before it is answered, so every recorded time lies between the moment the
sender was granted the send and the moment it released the grant: the busiest one-second window
of the records is a fair check of the shared send rate.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass

SEND_PATH = "/v2/email/outbound-emails"
ACCOUNT_PATH = "/v2/email/account"
#: Largest request accepted (SES itself takes at most 40 MB; tests send a few KiB).
MAX_BODY = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Send:
    """One ``SendEmail`` the stand-in answered."""

    at: float  # time.time() when the request had fully arrived
    recipient: str  # Destination.ToAddresses[0], as sent
    message_id: str
    agent: str  # the User-Agent header (AWS_SDK_UA_APP_ID shows in it as ``app/<id>``)
    size: int = 0  # bytes of the request body


def busiest_window(times: list[float], seconds: float = 1.0) -> int:
    """Most of ``times`` inside any half-open window ``[t, t + seconds)``."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + seconds) - i for i, t in enumerate(ordered)), default=0)


class SesStandin:
    """``SendEmail`` and ``GetAccount`` of SES v2, answered at once on ``127.0.0.1``."""

    def __init__(self, max_send_rate: float = 14.0, latency: float = 0.0) -> None:
        self.max_send_rate = max_send_rate  # what GetAccount reports
        self.latency = latency  # seconds each SendEmail answer is held back (SES takes tens of ms)
        self.port = 0
        self._sends: list[Send] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what arrived ---------------------------------------------------------------------------

    def sends(self) -> list[Send]:
        """Every send answered so far, in order of arrival."""
        with self._lock:
            return list(self._sends)

    def sends_since(self, index: int) -> list[Send]:
        """The sends answered after the first ``index`` (cheap to poll while a run goes on)."""
        with self._lock:
            return self._sends[index:]

    def clear(self) -> None:
        with self._lock:
            self._sends.clear()

    def count(self) -> int:
        with self._lock:
            return len(self._sends)

    def per_recipient(self) -> collections.Counter[str]:
        """Sends per recipient address (lower-cased)."""
        return collections.Counter(send.recipient.lower() for send in self.sends())

    def busiest_second(self) -> int:
        """Most sends that arrived within any one-second sliding window."""
        return busiest_window([send.at for send in self.sends()])

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SesStandin:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - re-raised in start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                open_connections = asyncio.all_tasks(loop)
                for task in open_connections:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*open_connections, return_exceptions=True))
                loop.run_until_complete(self._server.wait_closed())
                loop.close()

        self._thread = threading.Thread(target=run, name="ses-standin", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> SesStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, *_ = lines[0].split(" ") + ["", ""]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                try:
                    length = int(headers.get("content-length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    await self._answer(writer, 400, {"message": "a Content-Length is required"}, close=True)
                    return
                body = await reader.readexactly(length) if length else b""
                status, answer = self._handle(method, path.split("?", 1)[0], body, headers.get("user-agent", ""))
                if self.latency and status == 200 and method == "POST":
                    await asyncio.sleep(self.latency)
                close = headers.get("connection", "").lower() == "close"
                await self._answer(writer, status, answer, close=close)
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except asyncio.CancelledError:
            return  # the stand-in is stopping: end the connection quietly
        finally:
            writer.close()

    def _handle(self, method: str, path: str, body: bytes, agent: str) -> tuple[int, dict[str, object]]:
        if method == "POST" and path == SEND_PATH:
            arrived = time.time()
            try:
                recipient = str(json.loads(body)["Destination"]["ToAddresses"][0])
            except (ValueError, KeyError, IndexError, TypeError):
                return 400, {"message": "SendEmail needs Destination.ToAddresses"}
            message_id = f"0100{uuid.uuid4().hex}-standin"
            with self._lock:
                self._sends.append(Send(arrived, recipient, message_id, agent, len(body)))
            return 200, {"MessageId": message_id}
        if method == "GET" and path == ACCOUNT_PATH:
            return 200, {
                "SendQuota": {"Max24HourSend": -1.0, "MaxSendRate": self.max_send_rate, "SentLast24Hours": 0.0},
                "SendingEnabled": True, "ProductionAccessEnabled": True, "EnforcementStatus": "HEALTHY",
            }
        return 404, {"message": f"the SES stand-in does not answer {method} {path}"}

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, answer: dict[str, object], *,
                      close: bool) -> None:
        data = json.dumps(answer).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nx-amzn-RequestId: {uuid.uuid4()}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
        writer.write(head.encode("latin-1") + data)
        await writer.drain()
