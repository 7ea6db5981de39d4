"""The batch step: a batch of events through :func:`~.step.step`'s semantics at once.

:func:`step` folds an event into the customer's profile, then assesses the customer
against the segments. The batch step splits the two across a batch:

1. :func:`prepare` folds every event into a copy of its customer's profile, in order
   (a customer's second event of the batch is folded into the profile its first gave).
   Folding moves only the event side of a profile, which no assessment touches
   (:data:`~.profile.DECISION_FIELDS`), so this is what the sequential step folds.
2. It then screens all the folded profiles against the model at once
   (:func:`~.columns.screen`: counters, features, scaling and distances as columns).
3. :meth:`Prepared.finish`, event by event in order, joins the folded profile with the
   customer's assignment as it is by then (earlier events and looks of the sweep may
   have changed it) and assesses it: a customer the screen shows staying in its
   segment needs nothing more; any other goes through :func:`~.step.evaluate` exactly
   as :func:`step` would.

The results are :func:`step`'s, field for field; ``tests/models/test_batch.py`` checks
that on the simulator and the real datasets. The model must not change within a batch
(a worker's does not: it takes snapshots between batches).

>>> from datetime import UTC, datetime
>>> from segflow.models.config import EngineConfig
>>> from segflow.models.events import ClickEvent
>>> from segflow.models.model import SegmentModel
>>> model = SegmentModel.create(EngineConfig())
>>> when = datetime(2026, 11, 2, tzinfo=UTC)
>>> clicks = [ClickEvent(event_id=f"e{i}", customer_id="c1", url="/pricing",
...                      occurred_at=when) for i in range(2)]
>>> ready = prepare(clicks, {}.get, model)
>>> first = ready.finish(0, None, model, when)
>>> ready.finish(1, first.profile, model, when).profile.event_counts
{'click': 2}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .columns import Screen, screen
from .events import Event
from .features import profile_features
from .model import SegmentModel
from .profile import Profile
from .step import Folded, StepResult, assess_event, fold, sample_due, take_sample
from .timeutil import DAY

#: Fewer folded profiles than this are assessed one by one: a screen costs about 55 us
#: of numpy calls whatever its size, and 6-7 us a profile against 12 us for the
#: per-event path (measured here), so it pays from about ten.
MIN_SCREENED = 16


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's events folded and screened (see the module docstring)."""

    events: Sequence[Event]
    #: Per event: what folding it gave, or the error folding it raised.
    folded: list[Folded | Exception]
    #: Per event: its row in ``screen`` (-1: none).
    rows: list[int]
    screen: Screen | None

    def finish(
        self, i: int, before: Profile | None, model: SegmentModel, now: datetime
    ) -> StepResult:
        """:func:`~.step.step` of event ``i`` on ``before``, the customer's profile now
        (earlier results of the batch included). Raises what folding it raised."""
        folded = self.folded[i]
        if isinstance(folded, Exception):
            raise folded
        new = folded.profile
        if new is None:
            assert before is not None
            return StepResult(before, outcome=folded.outcome, t=folded.t)
        new.take_decisions(before)
        if model.rules is None:
            if not model.is_ready:
                return _stayed(new, folded, model, None)
            if self.screen is not None and new.segment is not None and self.rows[i] >= 0:
                kept = self.screen.stays(self.rows[i], new.segment, model.config.hysteresis_margin)
                if kept is not None:
                    new.pending, new.pending_count, new.pending_since = None, 0, None
                    return _stayed(new, folded, model, kept)
        return assess_event(folded, self.events[i], model, now)


def prepare(
    events: Sequence[Event], lookup: Callable[[str], Profile | None], model: SegmentModel
) -> Prepared:
    """Fold ``events`` in order into copies of their customers' profiles (``lookup``:
    each customer's profile before the batch) and screen them against ``model``."""
    config = model.config
    latest: dict[str, Profile | None] = {}
    folded: list[Folded | Exception] = []
    rows: list[int] = []
    screened: list[tuple[Profile, float]] = []
    for event in events:
        key = event.profile_key
        before = latest[key] if key in latest else lookup(key)
        try:
            done = fold(event, before, config)
        except Exception as error:
            folded.append(error)
            rows.append(-1)
            continue
        folded.append(done)
        if done.profile is None:
            rows.append(-1)
            continue
        latest[key] = done.profile
        rows.append(len(screened))
        screened.append((done.profile, done.profile.as_of))
    wanted = model.rules is None and model.is_ready and len(screened) >= MIN_SCREENED
    return Prepared(events, folded, rows, screen(screened, model) if wanted else None)


def _stayed(
    new: Profile, folded: Folded, model: SegmentModel, distance: float | None
) -> StepResult:
    """The result of an assessment that changed nothing: the sample :func:`step` would
    hand out (features computed only when one is due)."""
    config = model.config
    sample = None
    if sample_due(new, new.as_of, config):
        features = profile_features(new, new.as_of, config.half_life_days * DAY)
        sample = take_sample(new, features, new.as_of, config)
    return StepResult(new, [], "applied", sample, folded.t, distance, folded.bought)
