"""Turns of the event loop Faust spends per message and per send, taken out:

- its compiled stream iterator yields once per turn of :data:`STREAM_TURN_S`, not
  before every message (:func:`turns_every`): on the real iterator, the other tasks
  still run while a stream takes a long queue, a turn's worth of time apart;
- a send finds the started producer without the three yields of Faust's
  ``maybe_start_producer`` (``SegflowApp``)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import faust
import faust._cython.streams as compiled
import pytest
from mode.utils.futures import stampede

from segflow.streams.faust_patches import LoopTurns, SegflowApp, turns_every


@pytest.fixture
def faust_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled iterator's own ``sleep`` for the test; whatever it was, after."""
    monkeypatch.setattr(compiled, "sleep", asyncio.sleep)


def turns_while_streaming(values: int) -> tuple[list[int], int]:
    """Stream ``values`` queued values through a Faust stream (the compiled iterator);
    return the values and how many times a task that reschedules itself on every turn
    of the loop ran meanwhile."""
    app = faust.App("segflow-turns-test", broker="kafka://127.0.0.1:9")  # never reached

    async def scenario() -> tuple[list[int], int]:
        turns = 0
        streaming = True

        async def ticker() -> None:
            nonlocal turns
            while streaming:
                turns += 1
                await asyncio.sleep(0)

        seen: list[int] = []
        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        before = turns
        async for value in app.stream(list(range(values))):
            seen.append(value)
            if len(seen) == values:
                break
        streaming = False
        ran = turns - before
        await tick
        return seen, ran

    return asyncio.run(scenario())


@pytest.mark.usefixtures("faust_sleep")
def test_faust_turns_the_loop_before_every_message() -> None:
    # What turns_every changes: the other task runs once per message.
    seen, turns = turns_while_streaming(200)
    assert seen == list(range(200))
    assert turns >= 200


@pytest.mark.usefixtures("faust_sleep")
def test_a_stream_takes_queued_messages_without_a_turn_each() -> None:
    installed = turns_every(10.0)
    assert installed is not None and compiled.sleep == installed.sleep
    assert turns_every() is installed  # once per process
    seen, turns = turns_while_streaming(200)
    assert seen == list(range(200))
    assert turns <= 5


def test_the_other_tasks_still_run_a_turn_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 messages, each taking a millisecond of the (test's) clock, a turn once 4.9 ms have passed:
    # the loop turns every fifth message, not never.
    ticks = iter(range(10_000))
    turns = LoopTurns(0.0049, clock=lambda: next(ticks) / 1000)
    monkeypatch.setattr(compiled, "sleep", turns.sleep)
    seen, ran = turns_while_streaming(100)
    assert seen == list(range(100))
    assert turns.yielded == 20
    assert 18 <= ran <= 22


def test_a_sleep_with_a_delay_sleeps() -> None:
    turns = LoopTurns(10.0, clock=lambda: 0.0)

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await turns.sleep(0.02, "done") == "done"
        return loop.time() - start

    assert asyncio.run(timed()) >= 0.015
    assert turns.yielded == 0


def test_faust_turns_the_loop_three_times_whenever_a_send_asks_for_the_producer() -> None:
    # SegflowApp.maybe_start_producer skips this for a started producer.
    from mode.utils.futures import StampedeWrapper

    assert isinstance(faust.App.__dict__["maybe_start_producer"], stampede)
    assert inspect.getsource(StampedeWrapper.__call__).count("await asyncio.sleep(0)") == 3


def loop_turned_while(awaitable: Any) -> tuple[Any, bool]:
    """Await ``awaitable``; whether the event loop ran another callback meanwhile."""

    async def scenario() -> tuple[Any, bool]:
        ran: list[int] = []
        asyncio.get_running_loop().call_soon(ran.append, 1)
        result = await awaitable
        return result, bool(ran)

    return asyncio.run(scenario())


def test_a_started_producer_is_handed_back_without_a_turn_of_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = SegflowApp("segflow-producer-test", broker="kafka://127.0.0.1:9")  # never reached
    producer = app.producer
    starts: list[str] = []

    async def faust_start(self: Any) -> Any:
        starts.append("faust")
        return self.producer

    monkeypatch.setattr(faust.App, "maybe_start_producer", faust_start)
    got, turned = loop_turned_while(app.maybe_start_producer())
    assert got is producer and starts == ["faust"]  # not started: Faust's own call
    producer._started.set()  # what mode's Service.start sets
    got, turned = loop_turned_while(app.maybe_start_producer())
    assert got is producer and starts == ["faust"] and not turned
