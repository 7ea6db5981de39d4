"""The in-memory runner: replay events through the pure step, for tests, benchmarks, backfills.

It does what a worker and the trainer do together, in one process: each event goes
through :func:`~segflow.models.step.step`; the samples the step hands out are
learned by the model right away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .changes import SegmentChange
from .config import EngineConfig
from .engine import Engine, Handled
from .erasure import EraseCommand, ErasedIds
from .events import Event, IdentifyEvent, anonymous_key
from .identity import fold, refusal
from .lifecycle import RetiredSegments, members_of
from .model import SegmentModel
from .profile import Profile
from .step import StepResult, exit_all, reassess
from .timeutil import DAY, from_epoch
from .value import PurchaseRecord, customer_hash
from .watermark import InputClock

Clock = Callable[[], datetime]
#: The outcome a look or a move is counted as.
_COUNTED = {"inactivity": "swept", "retired": "retired"}


@dataclass
class ReplayResult:
    """Everything a replay produced."""

    changes: list[SegmentChange]
    profiles: dict[str, Profile]
    model: SegmentModel
    outcomes: Counter[str] = field(default_factory=Counter)
    #: Anonymous id -> customer, for every identify taken.
    aliases: dict[str, str] = field(default_factory=dict)
    #: Identifies a guard refused, with the reason.
    refusals: list[tuple[IdentifyEvent, str]] = field(default_factory=list)


def replay(
    events: Iterable[Event | EraseCommand],
    config: EngineConfig | None = None,
    clock: Clock | None = None,
    model: SegmentModel | None = None,
    on_change: Callable[[SegmentChange], None] | None = None,
    on_sample: Callable[[dict[str, float], float], None] | None = None,
    sweep: bool = True,
    until: float | None = None,
    learn: bool = True,
) -> ReplayResult:
    """Run ``events`` in order through the step and the learner; return every change.

    ``clock`` gives the processing time stamped on changes (``emitted_at``); without
    one, the event's own time is used, so a replay is fully deterministic. With
    ``sweep``, silent customers are re-assessed as event time passes their due
    time (the inactivity sweep), up to the last event or ``until`` (epoch s). Input
    need not be in time order: the sweep's clock stays behind by the most the input
    ran out of order so far.
    ``on_change`` sees every change as it happens, ``on_sample`` every sample the
    model learns (with its event time). When the model retires a segment, its members
    are re-assessed at once. Without ``learn`` the model is used as given (pinned),
    as by workers that do not learn (``SEGFLOW_LEARN=false``) and assign with the
    model on the snapshot topic: the step still takes its samples (a profile
    remembers when it last fed the model), but none is learned nor passed to
    ``on_sample``. ``outcomes`` counts the steps by outcome, the sweep's looks
    (``swept``), the retirement moves (``retired``) and, at the end, the customers
    with valid events that still have no segment (``unassessed``).
    """
    model = model or SegmentModel.create(config or EngineConfig())
    run = _Replay(model, clock, on_change, on_sample, sweep=sweep, learn=learn)
    input_clock = InputClock()
    for event in events:
        run.handle(event, input_clock.observe(event.occurred_at.timestamp()))
    end = until if until is not None else input_clock.newest
    if sweep and end is not None:
        run.finish(end)
    return run.result()


def _keys_of(event: Event) -> list[str]:
    """The ids an event names: its customer id and its anonymous id (both as given)."""
    return [key for key in (event.customer_id, event.anonymous_id) if key is not None]


class _Replay:
    """One replay's state: the profiles, the changes, the counts, the model learning."""

    def __init__(
        self,
        model: SegmentModel,
        clock: Clock | None,
        on_change: Callable[[SegmentChange], None] | None,
        on_sample: Callable[[dict[str, float], float], None] | None,
        *,
        sweep: bool,
        learn: bool,
    ) -> None:
        self.model = model
        self.clock = clock
        self.on_change = on_change
        self.on_sample = on_sample
        self.learn = learn
        self.profiles: dict[str, Profile] = {}
        self.changes: list[SegmentChange] = []
        self.outcomes: Counter[str] = Counter()
        self.engine = Engine(model.config, sweep=sweep)
        self.retired = RetiredSegments()
        #: Anonymous id -> the customer it is linked to; identifies the guards refused.
        self.aliases: dict[str, str] = {}
        self.erased = ErasedIds(model.config.erasure.window_days)
        self.refusals: list[tuple[IdentifyEvent, str]] = []

    def stamp(self, t: float) -> datetime:
        """Processing time of a change at event time ``t``: the clock, else ``t`` itself."""
        return self.clock() if self.clock is not None else from_epoch(t)

    def handle(self, event: Event | EraseCommand, watermark: float) -> None:
        if isinstance(event, EraseCommand):
            self.erase(event)
            return
        t = event.occurred_at.timestamp()
        if self.erased.covers(_keys_of(event), t):
            self.outcomes["erased_dropped"] += 1
            return
        if isinstance(event, IdentifyEvent):
            self.identify(event, watermark)
            return
        linked = self.aliases.get(event.anonymous_id or "") if event.customer_id is None else None
        if linked is not None:  # a known visitor's event is the customer's
            event = event.model_copy(update={"customer_id": linked})
        self.step(event, watermark)

    def identify(self, event: IdentifyEvent, watermark: float) -> None:
        """Link the visitor to the customer (unless a guard refuses it): the visitor
        leaves its segments, its history is folded into the customer's profile, and
        the customer is re-assessed with the identify as cause."""
        anonymous, customer = event.anonymous_id, event.customer_id
        linked = self.aliases.get(anonymous)
        if linked == customer:
            self.outcomes["identify_repeated"] += 1
            return
        config = self.model.config
        why = refusal(
            anonymous,
            customer,
            linked,
            self.profiles.get(customer),
            anonymous in self.profiles,
            config.identity,
        )
        if why is not None:
            self.outcomes[f"refused_{why}"] += 1
            self.refusals.append((event, why))
            return
        self.aliases[anonymous] = customer
        visitor = self.profiles.pop(anonymous_key(anonymous), None)
        t, half_life = event.occurred_at.timestamp(), config.half_life_days * DAY
        if visitor is not None:
            gone = exit_all(visitor, self.model, t, self.stamp(t), "merged", event.event_id)
            self.collect(gone.changes)
            self.outcomes["merged"] += 1
            self.profiles[customer] = fold(
                self.profiles.get(customer), visitor, customer, anonymous, half_life
            )
        self.step(event, watermark)
        if visitor is None:
            self.profiles[customer] = fold(
                self.profiles[customer], None, customer, anonymous, half_life
            )

    def erase(self, command: EraseCommand) -> None:
        """Remove the customer and every visitor linked to it; exit changes for the
        segments they were in (no reasons, no scores); drop their later events."""
        t = command.occurred_at.timestamp()
        customer = self.profiles.pop(command.customer_id, None)
        linked = {a for a, c in self.aliases.items() if c == command.customer_id}
        if customer is not None:
            linked |= set(customer.aliases)
        keys = [command.customer_id, *(anonymous_key(a) for a in sorted(linked))]
        for key in keys:
            profile = customer if key == command.customer_id else self.profiles.pop(key, None)
            if profile is not None:
                gone = exit_all(profile, self.model, t, self.stamp(t), "erased")
                self.collect(gone.changes)
        for anonymous in linked:
            self.aliases.pop(anonymous, None)
        self.erased.erase([command.customer_id, *linked], t)
        self.outcomes["erased"] += 1

    def step(self, event: Event, watermark: float) -> None:
        now = self.clock() if self.clock is not None else event.occurred_at
        self.engine.handle(
            0,
            event,
            self.model,
            self.profiles.get,
            self.keep,
            self.stamp,
            watermark=watermark,
            now=now,
        )

    def keep(self, done: Handled) -> None:
        """The engine's sink: store the profile, learn the sample, collect the changes."""
        result = done.result
        self.outcomes[result.outcome if done.cause == "event" else _COUNTED[done.cause]] += 1
        self.profiles[done.customer] = result.profile
        if self.learn:
            self.learn_value(done.customer, result)
        if self.learn and result.sample is not None:
            purchases = PurchaseRecord.of(result.profile)
            key = customer_hash(done.customer)
            self.model.learn_one(result.sample, result.t, key, purchases)
            if self.on_sample is not None:
                self.on_sample(result.sample, result.t)
            gone = self.retired.since_last(self.model)
            if gone:
                members = list(members_of(self.profiles.values(), gone))
                self.engine.retire(0, members, self.model, result.t, self.keep, self.stamp)
        self.collect(result.changes)

    def learn_value(self, customer: str, result: StepResult) -> None:
        """A first purchase of the day feeds the value scores' learning (and re-fits the
        value model when one is due)."""
        if result.bought:
            purchases = PurchaseRecord.of(result.profile)
            assert purchases is not None
            self.model.learn_purchase(customer_hash(customer), purchases, result.t)
        self.model.refit_value()

    def collect(self, changes: list[SegmentChange]) -> None:
        self.changes.extend(changes)
        if self.on_change is not None:
            for change in changes:
                self.on_change(change)

    def finish(self, end: float) -> None:
        """Sweep up to ``end``; then assess whoever the model could not assess yet (its
        events all came before the model was ready, and its next look is after the end)."""
        self.engine.sweep(0, end, self.model, self.profiles.get, self.keep, self.stamp)
        if self.model.is_ready:
            for profile in [p for p in self.profiles.values() if p.segment is None]:
                result = reassess(profile, self.model, end, self.stamp(end))
                self.keep(Handled(profile.customer_id, profile, result, "inactivity"))

    def result(self) -> ReplayResult:
        self.outcomes["unassessed"] = sum(1 for p in self.profiles.values() if p.segment is None)
        return ReplayResult(
            self.changes, self.profiles, self.model, self.outcomes, self.aliases, self.refusals
        )
