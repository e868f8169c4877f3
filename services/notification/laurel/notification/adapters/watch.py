"""Waking inbox watchers when something was appended.

Appends run in worker threads, watchers are coroutines on the event loop:
`notify` may be called from any thread and hops onto the loop. A watcher takes
a `ticket` before reading the projection and waits on it after, so an append
that lands while it reads still wakes it. Watchers also wake on a timeout and
re-read, so an entry appended by another process (a second replica on the
same database) is seen too, a little later.
"""

from __future__ import annotations

import asyncio
import contextlib


class ChangeSignal:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def ticket(self) -> asyncio.Event:
        """The event the next `notify` sets; take it before reading."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._event is None:
            self._loop, self._event = loop, asyncio.Event()
        return self._event

    def notify(self) -> None:
        """Wake every watcher; callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        if fired is not None:
            fired.set()

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> None:
        """Until the ticket's notify, or `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout)
