"""Faust's per-message wait (``wait_first(callback(message), suspend_flow.wait())`` in
its consumer's drain loop) without tasks when the callback does not wait, and mode's own
wait, with the callback resumed, when it does: same results, same interruptions."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from mode import Service
from mode.utils.locks import Event

from segflow.streams.faust_patches import deliver_or_wait


class Drain(Service):
    """Stands for Faust's consumer: a mode service with a ``suspend_flow`` event."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = Event()
        self.waits: list[tuple[Any, ...]] = []

    async def modes_wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.waits.append(coros)
        return await Service.wait_first(self, *coros, timeout=timeout)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        return await deliver_or_wait(self, self.modes_wait_first, *coros, timeout=timeout)


async def at_once(value: int) -> int:
    return 2 * value


def closed(coro: Any) -> bool:
    return inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_a_callback_that_does_not_wait_is_delivered_without_tasks() -> None:
    async def go() -> None:
        drain = Drain()
        suspended = drain.suspend_flow.wait()
        tasks = len(asyncio.all_tasks())
        result = await drain.wait_first(at_once(21), suspended)
        assert result.results == [42] and not result.stopped
        assert drain.waits == []  # mode's wait_first (four tasks) was not needed
        assert len(asyncio.all_tasks()) == tasks
        assert closed(suspended)  # closed, not left to warn "never awaited"

    asyncio.run(go())


def test_a_callback_that_waits_is_resumed_under_modes_wait() -> None:
    async def go() -> None:
        drain = Drain()
        room = asyncio.Event()
        steps: list[str] = []

        async def deliver() -> str:
            steps.append("first step")
            await room.wait()  # a full channel
            steps.append("delivered")
            return "ok"

        asyncio.get_running_loop().call_later(0.01, room.set)
        result = await drain.wait_first(deliver(), drain.suspend_flow.wait())
        assert result.results == ["ok"] and not result.stopped
        assert steps == ["first step", "delivered"]  # the first step ran once
        assert len(drain.waits) == 1

    asyncio.run(go())


def test_a_suspended_flow_still_interrupts_a_waiting_callback() -> None:
    async def go() -> None:
        drain = Drain()
        cancelled = asyncio.Event()

        async def blocked() -> None:
            try:
                await asyncio.Event().wait()  # a channel that never has room
            except asyncio.CancelledError:
                cancelled.set()
                raise

        asyncio.get_running_loop().call_later(0.01, drain.suspend_flow.set)
        result = await drain.wait_first(blocked(), drain.suspend_flow.wait())
        assert result.results == [True] and not result.stopped  # the suspension won
        await asyncio.sleep(0)
        assert cancelled.is_set()  # mode cancelled the callback, through the resumption

    asyncio.run(go())


@pytest.mark.parametrize("state", ["suspended", "stopped"])
def test_a_suspended_or_stopped_consumer_waits_as_mode_does(state: str) -> None:
    async def go() -> None:
        drain = Drain()
        if state == "suspended":
            drain.suspend_flow.set()
        else:
            drain._stopped.set()
        callback, suspended = at_once(1), drain.suspend_flow.wait()
        await drain.wait_first(callback, suspended)
        assert drain.waits == [(callback, suspended)]  # as given, nothing run before

    asyncio.run(go())


def test_other_waits_of_the_consumer_are_modes() -> None:
    async def go() -> None:
        drain = Drain()
        drain.suspend_flow.set()
        result = await drain.wait(drain.suspend_flow)  # one waitable (Consumer.wait)
        assert not result.stopped and len(drain.waits) == 1

    asyncio.run(go())


def test_an_error_in_the_callback_is_raised_and_the_other_wait_closed() -> None:
    async def go() -> None:
        drain = Drain()

        async def broken() -> None:
            raise ValueError("bad message")

        suspended = drain.suspend_flow.wait()
        with pytest.raises(ValueError, match="bad message"):
            await drain.wait_first(broken(), suspended)
        assert closed(suspended)

    asyncio.run(go())
