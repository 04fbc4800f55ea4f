"""A fast loopback SQS stand-in for the benches (``python -m bench.sqs_standin``).

moto's SQS answers a few hundred messages per second and slows with queue depth, so it cannot
show how fast the ``ses`` event source ingests (``ingest``) or how fast workers take jobs
(``sendpath``, ``scaleout``). This is a minimal HTTP/1.1 server (asyncio, run as a child process
so it does not share the gateway's GIL) speaking the AWS JSON 1.0 protocol that botocore uses for
SQS (``X-Amz-Target: AmazonSQS.<Operation>``):

- ``ReceiveMessage`` (up to ``MaxNumberOfMessages``, a short long poll when empty, the
  ``VisibilityTimeout`` honoured: unacknowledged messages come back), with ``MD5OfBody`` and the
  ``SentTimestamp``/``ApproximateReceiveCount`` attributes;
- ``SendMessage`` and ``SendMessageBatch`` (``DelaySeconds`` honoured), ``DeleteMessageBatch``,
  ``ChangeMessageVisibility`` and its batch, ``GetQueueAttributes``, ``CreateQueue`` and
  ``GetQueueUrl`` (one queue, whatever the name: no redrive policy, no dead-letter queue).

Two more paths for the bench itself: ``POST /_load`` takes JSON lines (one message body per
line) and queues them; ``GET /_stats`` answers ``{"queued", "in_flight", "deleted", "received"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field

MAX_BODY = 64 * 1024 * 1024
LONG_POLL_STEP = 0.02  # seconds between looks at an empty queue


@dataclass(slots=True)
class Message:
    body: str
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    receives: int = 0
    visible_at: float = 0.0  # time.monotonic() before which a delayed message is not received


class SqsStandin:
    """One queue, whatever ``QueueUrl`` says."""

    def __init__(self) -> None:
        self.queued: collections.deque[Message] = collections.deque()
        self.delayed: list[Message] = []
        self.in_flight: dict[str, tuple[Message, float]] = {}
        self.deleted = 0
        self.received = 0
        self.url = ""  # set once serving: the base of the queue URLs it hands out

    # -- queue ----------------------------------------------------------------------------------

    def _return_expired(self) -> None:
        now = time.monotonic()
        if self.delayed:
            due = [m for m in self.delayed if m.visible_at <= now]
            self.delayed = [m for m in self.delayed if m.visible_at > now]
            self.queued.extend(due)
        expired = [handle for handle, (_, until) in self.in_flight.items() if until <= now]
        for handle in expired:
            message, _ = self.in_flight.pop(handle)
            self.queued.append(message)

    def receive(self, count: int, visibility: float) -> list[dict[str, object]]:
        if (self.in_flight or self.delayed) and not self.queued:
            self._return_expired()
        out = []
        until = time.monotonic() + visibility
        while self.queued and len(out) < count:
            message = self.queued.popleft()
            message.receives += 1
            handle = uuid.uuid4().hex
            self.in_flight[handle] = (message, until)
            out.append({
                "MessageId": message.message_id, "ReceiptHandle": handle, "Body": message.body,
                "MD5OfBody": hashlib.md5(message.body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "Attributes": {"SentTimestamp": str(message.sent_ms), "ApproximateReceiveCount": str(message.receives),
                               "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
            })
        self.received += len(out)
        return out

    def entries(self, request: dict[str, object], action: str) -> dict[str, object]:
        successful, failed = [], []
        for entry in request.get("Entries") or []:  # type: ignore[union-attr]
            handle = entry.get("ReceiptHandle")
            item = self.in_flight.get(handle)
            if item is None:
                failed.append({"Id": entry.get("Id"), "Code": "ReceiptHandleIsInvalid", "SenderFault": True,
                               "Message": "unknown receipt handle"})
                continue
            if action == "delete":
                del self.in_flight[handle]
                self.deleted += 1
            elif not float(entry.get("VisibilityTimeout") or 0):  # released: next in line at once
                del self.in_flight[handle]
                self.queued.appendleft(item[0])
            else:
                self.in_flight[handle] = (item[0], time.monotonic() + float(entry.get("VisibilityTimeout") or 0))
            successful.append({"Id": entry.get("Id")})
        return {"Successful": successful, "Failed": failed}

    def send(self, body: str, delay: float) -> dict[str, str]:
        message = Message(body)
        if delay > 0:
            message.visible_at = time.monotonic() + delay
            self.delayed.append(message)
        else:
            self.queued.append(message)
        return {"MessageId": message.message_id, "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}  # noqa: S324

    def send_batch(self, request: dict[str, object]) -> dict[str, object]:
        successful = []
        for entry in request.get("Entries") or []:  # type: ignore[union-attr]
            sent = self.send(str(entry.get("MessageBody")), float(entry.get("DelaySeconds") or 0))
            successful.append({"Id": entry.get("Id"), **sent})
        return {"Successful": successful, "Failed": []}

    def change_one(self, request: dict[str, object]) -> tuple[int, dict[str, object]]:
        answer = self.entries({"Entries": [{"Id": "0", **request}]}, "visibility")
        if answer["Failed"]:
            return 400, {"__type": "com.amazonaws.sqs#ReceiptHandleIsInvalid", "message": "unknown receipt handle"}
        return 200, {}

    async def dispatch(self, target: str, request: dict[str, object]) -> tuple[int, dict[str, object]]:
        operation = target.rpartition(".")[2]
        if operation == "SendMessageBatch":
            return 200, self.send_batch(request)
        if operation == "SendMessage":
            return 200, self.send(str(request.get("MessageBody")), float(request.get("DelaySeconds") or 0))  # type: ignore[arg-type]
        if operation == "ChangeMessageVisibility":
            return self.change_one(request)
        if operation in ("CreateQueue", "GetQueueUrl"):
            return 200, {"QueueUrl": f"{self.url}/123456789012/{request.get('QueueName') or 'standin'}"}
        if operation == "ReceiveMessage":
            count = max(1, min(10, int(request.get("MaxNumberOfMessages") or 1)))  # type: ignore[arg-type]
            visibility = float(request.get("VisibilityTimeout") or 30)  # type: ignore[arg-type]
            deadline = time.monotonic() + min(1.0, float(request.get("WaitTimeSeconds") or 0))  # type: ignore[arg-type]
            messages = self.receive(count, visibility)
            while not messages and time.monotonic() < deadline:
                await asyncio.sleep(LONG_POLL_STEP)
                messages = self.receive(count, visibility)
            return 200, {"Messages": messages} if messages else {}
        if operation == "DeleteMessageBatch":
            return 200, self.entries(request, "delete")
        if operation == "ChangeMessageVisibilityBatch":
            return 200, self.entries(request, "visibility")
        if operation == "GetQueueAttributes":
            return 200, {"Attributes": {"ApproximateNumberOfMessages": str(len(self.queued) + len(self.delayed)),
                                        "QueueArn": "arn:aws:sqs:us-east-1:123456789012:standin"}}
        return 400, {"__type": "com.amazonaws.sqs#InvalidAction", "message": f"{operation} is not served here"}

    def stats(self) -> dict[str, int]:
        return {"queued": len(self.queued) + len(self.delayed), "in_flight": len(self.in_flight), "deleted": self.deleted,
                "received": self.received}

    # -- HTTP -----------------------------------------------------------------------------------

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = (lines[0].split(" ") + ["", ""])[:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if not 0 <= length <= MAX_BODY:
                    return
                body = await reader.readexactly(length) if length else b""
                if path == "/_load":
                    for line in body.decode().splitlines():
                        if line.strip():
                            self.queued.append(Message(json.loads(line)))
                    status, answer = 200, self.stats()
                elif path == "/_stats":
                    status, answer = 200, self.stats()
                else:
                    status, answer = await self.dispatch(headers.get("x-amz-target", ""), json.loads(body or b"{}"))
                data = json.dumps(answer).encode()
                writer.write((f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
                              f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(data)}\r\n"
                              f"x-amzn-RequestId: {uuid.uuid4()}\r\n\r\n").encode("latin-1") + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        finally:
            writer.close()


async def serve(port: int) -> None:
    standin = SqsStandin()
    server = await asyncio.start_server(standin.connection, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    standin.url = f"http://127.0.0.1:{bound}"
    print(bound, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqs_standin")
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free port; printed)")
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
