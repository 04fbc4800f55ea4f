"""Lanes: the tasks that carry messages to the relay, shared by every send call of a worker loop.

There are at most ``relay_connections`` lanes; each holds one connection slot of the pool and
sends queued messages one after the other over its connection, whichever send call they came
from, so a connection never waits for a call to hand it the next message. A lane marks the next
``relay_mark_ahead`` messages dispatched while the current one is on the wire (the mark's ledger
write overlaps the relay's answers); each result is stored in a task of its own while the lane
goes on. A lane ends when the queue is empty, giving its connection back to the pool.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from postgate import DeliveryResult, OutcomeSink, RenderedMessage

from .envelope import EnvelopeAddress
from .relay_pool import RelayConnection


class Call:
    """One ``send_each`` call: its sink, how many of its messages are not finished, and the
    tasks storing its results."""

    def __init__(self, sink: OutcomeSink, count: int) -> None:
        self.sink = sink
        self.left = count
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.recording: list[asyncio.Task[None]] = []
        self.error: BaseException | None = None  # the first failure: the call raises it
        if count == 0:
            self.finished.set_result(None)

    def record(self, result: DeliveryResult) -> None:
        self.recording.append(asyncio.get_running_loop().create_task(self.sink.result(result)))

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def done_one(self) -> None:
        self.left -= 1
        if self.left <= 0 and not self.finished.done():
            self.finished.set_result(None)


@dataclass(slots=True, eq=False)
class Outgoing:
    """A message waiting for a lane, and its dispatch mark once started."""

    message: RenderedMessage
    sender: EnvelopeAddress
    recipient: EnvelopeAddress
    call: Call
    mark: asyncio.Future[Sequence[int]] | None = None


@dataclass(slots=True)
class Lane:
    """The connection a lane holds; ``opened``: opened for the message now being sent."""

    connection: RelayConnection | None = None
    opened: bool = False


#: One transaction: the result to store, or ``None`` (the row is not this worker's any more).
Send = Callable[[Lane, Outgoing], Awaitable[DeliveryResult | None]]


class Lanes:
    """The queue of messages and the lanes that send them (see the module documentation)."""

    def __init__(self, count: int, mark_ahead: int, slot: Callable[[], asyncio.Semaphore], send: Send,
                 release: Callable[[Lane], None]) -> None:
        self.count = count
        self.mark_ahead = mark_ahead
        self.slot = slot
        self.send = send
        self.release = release  # gives the lane's connection back (called once the lane ends)
        self.waiting: collections.deque[Outgoing] = collections.deque()
        self.running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, items: Sequence[Outgoing], call: Call) -> None:
        """Queue ``items`` (all of ``call``) and return once each is sent and its result stored;
        raises the call's first failure. Cancelled: its messages not yet on a lane are withdrawn."""
        self.waiting.extend(items)
        self._start()
        try:
            await asyncio.shield(call.finished)
        except asyncio.CancelledError:
            self.waiting = collections.deque(item for item in self.waiting if item.call is not call)
            raise
        for outcome in await asyncio.gather(*call.recording, return_exceptions=True):
            if isinstance(outcome, BaseException):
                call.fail(outcome)
        if call.error is not None:
            raise call.error

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self) -> None:
        while self.running < self.count and self.running < len(self.waiting):
            self.running += 1
            task = asyncio.get_running_loop().create_task(self._lane(), name="postgate-smtp-lane")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _lane(self) -> None:
        lane = Lane()
        ahead: collections.deque[Outgoing] = collections.deque()
        try:
            async with self.slot():
                while self.waiting or ahead:
                    self._mark_ahead(ahead)
                    if ahead:
                        await self._send_first(lane, ahead)
        except BaseException:
            if lane.connection is not None:
                lane.connection.broken = True  # cancelled, maybe in the middle of a transaction
            raise
        finally:
            self.running -= 1
            for item in ahead:  # only when cancelled: never sent, no result
                _retrieve(item.mark)
                item.call.fail(RuntimeError("the smtp delivery stopped before sending the message"))
                item.call.done_one()
            if lane.connection is not None:
                self.release(lane)
            if self.waiting:
                self._start()

    def _mark_ahead(self, ahead: collections.deque[Outgoing]) -> None:
        """Start the marks of the next messages (the current one and ``mark_ahead`` more)."""
        while self.waiting and len(ahead) <= self.mark_ahead:
            item = self.waiting.popleft()
            if item.call.error is not None:  # its call failed: nothing more of it is sent
                item.call.done_one()
                continue
            item.mark = asyncio.ensure_future(item.call.sink.dispatching([item.message.recipient_id]))
            ahead.append(item)

    async def _send_first(self, lane: Lane, ahead: collections.deque[Outgoing]) -> None:
        item = ahead[0]
        assert item.mark is not None
        try:
            result = await self.send(lane, item)
            # The mark's ledger write lands before the result's; a failing recorder raises here,
            # and a row whose lease went to another worker gets no result from this one.
            cleared = item.message.recipient_id in await item.mark
        except Exception as exc:  # noqa: BLE001 - the call it belongs to raises it
            if lane.connection is not None:
                lane.connection.broken = True  # maybe in the middle of a transaction
                self.release(lane)
                lane.connection = None
            _retrieve(item.mark)
            item.call.fail(exc)
        else:
            if result is not None and cleared:
                item.call.record(result)
        ahead.popleft()
        item.call.done_one()


def _retrieve(mark: asyncio.Future[Sequence[int]] | None) -> None:
    """Let a mark finish on its own, its failure (if any) retrieved: another error is the one raised."""
    if mark is None:
        return
    if not mark.done():
        mark.add_done_callback(_retrieve)
    elif not mark.cancelled():
        mark.exception()
