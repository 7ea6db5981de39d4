"""The profile agent's batch window (:class:`FirstEventWindow`), on mode's own
``Service.wait_for_stopped`` and a copy of the loop Faust's ``take_events`` runs:
an idle agent does not wake on a timer, a batch still closes when full or ``within``
after its first event, and no event is left waiting in the buffer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import mode

from segflow.streams.faust_patches import FirstEventWindow

WITHIN = 0.002


class TakeLoop:
    """The shape of Faust's ``take_events``: processors fill ``buffer`` (``note`` first,
    as the window is added before Faust's own processor); the loop waits for a full
    buffer with a timeout and takes what the buffer holds."""

    def __init__(self, wait_for_stopped: Callable[..., Awaitable[bool]], size: int = 3) -> None:
        self.wait = wait_for_stopped
        self.size = size
        self.buffer: list[int] = []
        self.full = asyncio.Event()
        self.wakeups = 0
        self.batches: list[list[int]] = []

    def add(self, note: Callable[[int], object], value: int) -> None:
        note(value)
        self.buffer.append(value)
        if len(self.buffer) >= self.size:
            self.full.set()

    async def run(self, service: mode.Service) -> None:
        while not service.should_stop:
            await self.wait(self.full, timeout=WITHIN)
            self.wakeups += 1
            if self.buffer:
                self.batches.append(list(self.buffer))
                self.buffer.clear()
                self.full.clear()


async def until(condition: Callable[[], object], timeout: float = 2.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


def test_an_idle_loop_does_not_wake_until_an_event_arrives() -> None:
    async def scenario() -> tuple[int, int, int, list[list[int]]]:
        plain_service, service = mode.Service(), mode.Service()
        plain = TakeLoop(plain_service.wait_for_stopped)  # Faust as it is
        window = FirstEventWindow(service.wait_for_stopped)
        loop = TakeLoop(window.wait_for_stopped)
        tasks = [
            asyncio.ensure_future(plain.run(plain_service)),
            asyncio.ensure_future(loop.run(service)),
        ]
        await asyncio.sleep(0.1)
        idle_plain, idle = plain.wakeups, loop.wakeups
        loop.add(window.note, 1)
        await until(lambda: loop.batches)
        after_event = loop.wakeups
        await asyncio.sleep(0.1)  # idle again
        await plain_service.stop()
        await service.stop()
        await asyncio.gather(*tasks)
        return idle_plain, idle, after_event, loop.batches

    idle_plain, idle, after_event, batches = asyncio.run(scenario())
    assert idle_plain >= 10  # Faust's own loop wakes every `within`, buffer empty or not
    assert idle == 0
    assert batches == [[1]] and after_event == 1


def test_a_batch_closes_when_full_without_waiting_out_its_window() -> None:
    async def scenario() -> tuple[list[list[int]], bool]:
        service = mode.Service()
        window = FirstEventWindow(service.wait_for_stopped)
        loop = TakeLoop(window.wait_for_stopped, size=3)
        task = asyncio.ensure_future(loop.run(service))
        await asyncio.sleep(0.01)
        for value in (1, 2, 3):  # one fetch's records arrive together
            loop.add(window.note, value)
        await until(lambda: loop.batches)
        first = list(loop.batches)
        await service.stop()
        await task
        return first, window.arrived.is_set()

    batches, still_open = asyncio.run(scenario())
    assert batches == [[1, 2, 3]]
    assert not still_open


def test_an_event_noted_while_a_batch_is_taken_opens_the_next_window() -> None:
    """An event that arrives while the agent works on a batch is not taken with it;
    the next wait is the timed one, so it is taken ``within`` later, not at the next
    arrival."""

    async def scenario() -> list[list[int]]:
        service = mode.Service()
        window = FirstEventWindow(service.wait_for_stopped)
        full = asyncio.Event()
        loop = TakeLoop(window.wait_for_stopped)
        loop.add(window.note, 1)
        await window.wait_for_stopped(full, timeout=WITHIN)  # the first batch's window
        taken = list(loop.buffer)
        loop.buffer.clear()
        loop.add(window.note, 2)  # arrives while the agent works on [1]
        await asyncio.wait_for(window.wait_for_stopped(full, timeout=WITHIN), 1.0)
        return [taken, list(loop.buffer)]

    assert asyncio.run(scenario()) == [[1], [2]]


def test_stopping_the_stream_ends_an_idle_wait() -> None:
    async def scenario() -> bool:
        service = mode.Service()
        window = FirstEventWindow(service.wait_for_stopped)
        waiting = asyncio.ensure_future(window.wait_for_stopped(asyncio.Event(), timeout=WITHIN))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await service.stop()
        return await asyncio.wait_for(waiting, 1.0)

    assert asyncio.run(scenario()) is True


def test_an_untimed_wait_of_the_stream_passes_through() -> None:
    """Only ``take_events``' timed wait waits for an event first."""

    async def scenario() -> bool:
        service = mode.Service()
        window = FirstEventWindow(service.wait_for_stopped)
        ready = asyncio.Event()
        ready.set()
        return await asyncio.wait_for(window.wait_for_stopped(ready), 1.0)

    assert asyncio.run(scenario()) is False
