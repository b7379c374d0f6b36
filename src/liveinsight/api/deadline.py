"""Bounds on request bodies: a client that starts a request and stalls mid-body (or never
sends it) cannot hold a connection and its handler for ever, and no body is bigger than its
endpoint takes.

:class:`BodyDeadlines` wraps each HTTP request's ``receive``. From the first read, the whole
body must arrive within ``timeout`` seconds; past that, the read waiting for it (or the next
one) raises :class:`BodyTimeout`, an ``HTTPException`` (408) that every endpoint answers as
JSON. With a ``limit``, a read that takes the body past it raises :class:`BodyTooLarge`
(413). Once the body is complete, ``receive`` is the server's own again (a streaming response
listens on it for the disconnect, for as long as it likes).

The collector's endpoints read their body in one loop (``api/collect.py: read_body``) and
use :meth:`BodyDeadlines.enter` / :meth:`~BodyDeadlines.leave` around it instead of the
wrapper: no extra coroutine per read on the hot path, only a dict insert and delete. One timer
per event loop, armed only while some body is incomplete, checks the deadlines
(``asyncio.timeout`` per request cost ~4.6 µs, a tenth of a collector request's CPU).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive


class BodyTimeout(HTTPException):
    """The request body did not arrive in time (408)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout:g} s",
                         headers={"connection": "close"})


class BodyTooLarge(HTTPException):
    """The request body is larger than its endpoint takes (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class _Guard:
    """``receive`` of one request, under its deadline (and size limit)."""

    __slots__ = ("_limit", "_owner", "_receive", "complete", "deadline", "expired", "size",
                 "task", "waiting")

    def __init__(self, owner: BodyDeadlines, receive: Receive, limit: int | None) -> None:
        self._owner = owner
        self._receive = receive
        self._limit = limit
        self.size = 0
        self.complete = False
        self.expired = False
        self.waiting = False  # a read is in progress (the only time it may be cancelled)
        self.deadline = 0.0
        self.task: asyncio.Task[object] | None = None

    async def __call__(self) -> Message:
        if self.complete:
            return await self._receive()
        owner = self._owner
        if self.expired:
            raise BodyTimeout(owner.timeout)
        if self.task is None:
            self.task = asyncio.current_task()
            self.deadline = owner.loop_time() + owner.timeout
            owner.watch(self)
        self.waiting = True
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self.expired and self.task is not None and self.task.uncancel() == 0:
                raise BodyTimeout(owner.timeout) from None
            raise
        finally:
            self.waiting = False
        if message["type"] != "http.request":
            self.release()
            return message
        if self._limit is not None:
            self.size += len(message.get("body", b""))
            if self.size > self._limit:
                self.release()
                raise BodyTooLarge(self._limit)
        if not message.get("more_body", False):
            self.release()
        return message

    def release(self) -> None:
        """The body is complete (or the request is over): no deadline any more."""
        self.complete = True
        self._owner.forget(self)

    def expire(self) -> None:
        self.expired = True
        if self.waiting and self.task is not None:
            self.task.cancel()  # turned into BodyTimeout by the read it interrupts


class BodyDeadlines:
    """Body deadlines of the requests of one app (``timeout`` seconds each)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # guard or task → its deadline (a task: a body read inline, see enter())
        self._pending: dict[_Guard | asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def guard(self, receive: Receive, limit: int | None = None) -> _Guard:
        """``receive`` under the deadline (and at most ``limit`` bytes of body); call
        ``release()`` once the request is over."""
        return _Guard(self, receive, limit)

    def enter(self) -> asyncio.Task[object]:
        """Start the current task's body deadline, for a body read in one loop that awaits
        nothing but ``receive``: at the deadline the task is cancelled, and the read that
        catches the ``CancelledError`` asks :meth:`timed_out`. Call :meth:`leave` after."""
        task = asyncio.current_task()
        assert task is not None
        self._arm(task, self.loop_time() + self.timeout)
        return task

    def leave(self, task: asyncio.Task[object]) -> None:
        self._pending.pop(task, None)
        self._expired.discard(task)

    def timed_out(self, task: asyncio.Task[object]) -> bool:
        """True when the deadline cancelled ``task`` (the cancellation is then undone)."""
        if task in self._expired and task.uncancel() == 0:
            self._expired.discard(task)
            return True
        return False

    def loop_time(self) -> float:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests): what the old one held is gone
            self._loop, self._pending, self._expired, self._timer = loop, {}, set(), None
        return loop.time()

    def watch(self, guard: _Guard) -> None:
        self._arm(guard, guard.deadline)

    def _arm(self, key: _Guard | asyncio.Task[object], deadline: float) -> None:
        self._pending[key] = deadline
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(min(1.0, self.timeout), self._check)

    def forget(self, guard: _Guard) -> None:
        self._pending.pop(guard, None)

    def _check(self) -> None:
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        for key in [k for k, deadline in self._pending.items() if deadline <= now]:
            del self._pending[key]
            if isinstance(key, _Guard):
                key.expire()
            else:
                self._expired.add(key)
                key.cancel()
        if self._pending:
            self._timer = self._loop.call_later(min(1.0, self.timeout), self._check)
