"""The pure step: (event, profile, model, now) -> new profile and segment changes.

No clock is read here: ``now`` (processing time, for ``emitted_at``) is passed in.
The inputs are never mutated; the new profile is a copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .changes import ChangeReason, Reason, SegmentChange, change_id
from .config import EngineConfig
from .events import ClickEvent, DownloadEvent, EmailEvent, Event, IdentifyEvent, PurchaseEvent
from .features import profile_features
from .model import SegmentModel
from .noise import cluster_noise
from .pages import DEFAULT_PAGE_STAGES, page_stage
from .policy import decide, lapse_gated, rule_transitions
from .profile import BOUNCED, COMPLAINED, COUNTER_INDEX, UNSUBSCRIBED, Profile, event_key
from .reasons import behavioral_reasons, standout_reasons
from .timeutil import DAY, from_epoch
from .value import PurchaseRecord

Outcome = Literal["applied", "duplicate", "late"]
#: Half-lives of silence (counts decayed to under 2 %) after which the sweep stops its
#: daily looks at a customer.
SILENT_HALF_LIVES = 6

_EMAIL_COUNTERS = {
    "sent": ("emails_sent", "rate_sent"),
    "open": ("email_opens", "rate_opens"),
    "click": ("email_clicks", "rate_clicks"),
}
_UNOPENED = COUNTER_INDEX["rate_unopened"]
_EMAIL_FLAGS = {"bounce": BOUNCED, "unsubscribe": UNSUBSCRIBED, "complaint": COMPLAINED}


@dataclass(slots=True)
class StepResult:
    """What one event did to one customer."""

    profile: Profile
    changes: list[SegmentChange] = field(default_factory=list)
    outcome: Outcome = "applied"
    sample: dict[str, float] | None = None
    t: float = 0.0
    #: Distance (standard units) of the customer to its behavioral segment's centroid,
    #: when it has one under a ready model.
    distance: float | None = None
    #: The event was a purchase on a day the customer had not bought on yet.
    bought: bool = False


def apply_event(
    profile: Profile,
    event: Event,
    t: float,
    half_life: float,
    page_stages: Mapping[str, str] = DEFAULT_PAGE_STAGES,
) -> bool:
    """Fold one event into ``profile`` (in place), ``as_of`` already at or past ``t``;
    True when it is a purchase on a day the customer had not bought on yet."""
    active = site = True
    bought = False
    if isinstance(event, ClickEvent):
        profile.add("clicks", 1.0, t, half_life)
        stage = page_stage(event.url, page_stages)
        if stage != "other":
            profile.add(f"pages_{stage}", 1.0, t, half_life)
        # A click without a session id starts a session after half an hour.
        session = event_key(event.session_id) if event.session_id else f"t{int(t // 1800)}"
        if session != profile.last_session:
            profile.last_session = session
            profile.add("sessions", 1.0, t, half_life)
    elif isinstance(event, DownloadEvent):
        profile.add(f"downloads_{event.funnel_stage or 'other'}", 1.0, t, half_life)
    elif isinstance(event, EmailEvent):
        for counter in _EMAIL_COUNTERS.get(event.action, ()):
            profile.add(counter, 1.0, t, half_life)
        profile.flags |= _EMAIL_FLAGS.get(event.action, 0)
        if event.action == "sent":
            profile.unopened += 1
            profile.add("rate_unopened", 1.0, t, half_life)
            if profile.last_sent is None or t > profile.last_sent:
                profile.last_sent = t
        elif event.action in ("open", "click"):
            profile.unopened = 0
            profile.counts[_UNOPENED] = 0.0
            if profile.last_open is None or t > profile.last_open:
                profile.last_open = t
        active = event.action in ("open", "click")
        site = False
    elif isinstance(event, PurchaseEvent):
        if event.amount >= 0:
            profile.add("purchases", 1.0, t, half_life)
        else:
            site = False  # a refund is the shop's doing
        profile.add("spend", float(event.amount), t, half_life)
        bought = profile.record_purchase(t, float(event.amount))
    if active:
        profile.mark_active(t, half_life)
    if site:
        profile.mark_site(t, half_life)
    profile.event_counts[event.kind] = profile.event_counts.get(event.kind, 0) + 1
    return bought


def step(event: Event, profile: Profile | None, model: SegmentModel, now: datetime) -> StepResult:
    """Apply ``event`` to ``profile`` (None: a new customer) and decide the changes it causes."""
    folded = fold(event, profile, model.config)
    if folded.profile is None:
        assert profile is not None
        return StepResult(profile, outcome=folded.outcome, t=folded.t)
    return assess_event(folded, event, model, now)


@dataclass(frozen=True, slots=True)
class Folded:
    """An event folded into a copy of the customer's profile, before any assessment."""

    outcome: Outcome
    t: float
    #: The profile with the event in it (None: not applied, a duplicate or late event).
    profile: Profile | None = None
    bought: bool = False


def fold(event: Event, profile: Profile | None, config: EngineConfig) -> Folded:
    """The first half of :func:`step`: ``event`` folded into a copy of ``profile`` (None:
    a new customer), or why it is not. Only the profile's event side moves (nothing of
    :data:`~.profile.DECISION_FIELDS`)."""
    half_life = config.half_life_days * DAY
    t = event.occurred_at.timestamp()
    if profile is None:
        new = Profile.new(event.profile_key, as_of=t)
    else:
        if profile.seen(event.event_id):
            return Folded("duplicate", t)
        if t < profile.as_of - config.max_lateness_hours * 3_600.0:
            return Folded("late", t)
        new = profile.copy()
    properties = event.properties
    if isinstance(event, IdentifyEvent) and event.traits:
        properties = {**(properties or {}), **event.traits}
    if properties and t >= new.as_of:
        new.properties.update(properties)
    new.advance(t, half_life)
    bought = apply_event(new, event, t, half_life, config.page_stages)
    new.remember(event.event_id, config.dedup_window)
    return Folded("applied", t, new, bought)


def assess_event(folded: Folded, event: Event, model: SegmentModel, now: datetime) -> StepResult:
    """The second half of :func:`step`: the changes the folded event causes, and the
    sample it hands out (``folded.profile`` is updated in place)."""
    new = folded.profile
    assert new is not None
    features = profile_features(new, new.as_of, model.config.half_life_days * DAY)
    changes, distance = evaluate(
        new, features, model, new.as_of, event.occurred_at, now, event.event_id
    )
    sample = take_sample(new, features, new.as_of, model.config)
    return StepResult(new, changes, "applied", sample, folded.t, distance, folded.bought)


def evaluate(
    profile: Profile,
    features: dict[str, float],
    model: SegmentModel,
    at: float,
    occurred: datetime,
    now: datetime,
    cause_event_id: str | None,
    reason: ChangeReason = "event",
) -> tuple[list[SegmentChange], float | None]:
    """Re-assess ``profile`` (in place) against the model and rules: the changes that
    follow, and the distance to the segment it is in afterwards (None: none).

    A change occurs at ``occurred`` (the cause event's time, or the time of the sweep's
    look), but never before the customer's previous change: a late event or a look
    behind the customer's latest change cannot make its changes run backwards.
    """
    look = _Assessment(profile, features, model, occurred, now, cause_event_id, reason, at)
    distance = look.behavioral(at) if model.is_ready else None
    if model.rules is not None:
        look.rules()
    return look.changes, distance


class _Assessment:
    """One evaluation of one customer: the changes it finds, stamped alike."""

    def __init__(
        self,
        profile: Profile,
        features: dict[str, float],
        model: SegmentModel,
        occurred: datetime,
        now: datetime,
        cause_event_id: str | None,
        reason: ChangeReason,
        at: float,
    ) -> None:
        self.profile, self.features, self.model = profile, features, model
        self.at = at  # the event time the features are at
        self.occurred, self.now = occurred, now
        self.cause_event_id, self.reason = cause_event_id, reason
        self.x = model.transform.transform_one(features)
        self.changes: list[SegmentChange] = []
        # Scores go only into changes and rules: most looks of the sweep need neither.
        self._scores: dict[str, float] | None = None

    def scores(self, only: frozenset[str] | None = None) -> dict[str, float]:
        """Every score (kept for the changes), or just those named in ``only`` (what
        the rules read; every score, when a change needed them already)."""
        if self._scores is not None:
            return self._scores
        purchases = PurchaseRecord.of(self.profile)
        scores = self.model.scores(self.features, purchases, self.at, only, self.x)
        if only is None:
            self._scores = scores
        return scores

    def behavioral(self, at: float) -> float | None:
        """Decide the learned segment at ``at``; the distance to the segment kept."""
        profile, model, config = self.profile, self.model, self.model.config
        lapsed = min(self.features["presence"], self.features["email_presence"])
        distances = lapse_gated(
            model.distances(self.x), model.dormant_segments(), lapsed < config.lapse_gate
        )
        decision = decide(
            profile.segment,
            profile.pending,
            profile.pending_count,
            distances,
            config.hysteresis_margin,
            config.dwell,
            at,
            config.dwell_hours * 3_600.0,
            profile.pending_since,
            self.lead_needed if config.move_z > 0 else None,
        )
        previous = profile.segment
        profile.segment = decision.segment
        profile.pending, profile.pending_count = decision.pending, decision.pending_count
        profile.pending_since = decision.pending_since
        if decision.moved:
            reasons = behavioral_reasons(model, self.features, self.x, previous, decision.segment)
            transition = (previous, decision.segment)
            self.add("behavioral", transition, model.segment_names(), model.version, reasons)
        return distances.get(decision.segment) if decision.segment is not None else None

    def lead_needed(self, target: str) -> float:
        """The lead over its segment ``target`` needs before a move is past chance
        (``move_z`` deviations of the customer's own noise; see :mod:`.noise`)."""
        assert self.profile.segment is not None
        model = self.model
        noise = cluster_noise(self.features)
        return model.move_lead(noise, self.profile.segment, target, model.config.move_z)

    def rules(self) -> None:
        """Enter and leave the rule segments whose conditions changed."""
        assert self.model.rules is not None
        rules = self.model.rules
        after = rules.evaluate(
            self.features, self.scores(rules.score_fields), self.profile.properties
        )
        transitions = rule_transitions(self.profile.rule_segments, after)
        if transitions:
            reasons = standout_reasons(self.model, self.features, self.x)
            for transition in transitions:
                self.add("rule", transition, self.model.rules.names, None, reasons)
            self.profile.rule_segments = sorted(after)

    def add(
        self,
        kind: Literal["behavioral", "rule"],
        transition: tuple[str | None, str | None],
        names: dict[str, str],
        model_version: int | None,
        reasons: list[Reason],
    ) -> None:
        profile = self.profile
        before, to = transition
        profile.seq += 1
        when = self.occurred
        if profile.changed_at is not None and when.timestamp() < profile.changed_at:
            when = from_epoch(profile.changed_at)
        profile.changed_at = when.timestamp()
        profile.mark_since(kind, before, to, when.timestamp())
        self.changes.append(
            SegmentChange(
                change_id=change_id(profile.customer_id, kind, profile.seq),
                customer_id=profile.customer_id,
                kind=kind,
                from_segment=before,
                to_segment=to,
                from_name=names.get(before) if before else None,
                to_name=names.get(to) if to else None,
                model_version=model_version,
                occurred_at=when,
                emitted_at=self.now,
                cause_event_id=self.cause_event_id,
                scores=self.scores(),
                reasons=reasons,
                reason=self.reason,
                seq=profile.seq,
            )
        )


def reassess(
    profile: Profile,
    model: SegmentModel,
    at: float,
    now: datetime,
    reason: ChangeReason = "inactivity",
) -> StepResult:
    """Re-evaluate a customer who sent nothing, at event time ``at`` (the inactivity sweep,
    or a model that retired the customer's segment: ``reason`` says which).

    Decay alone can carry a customer across a boundary; the changes this finds have
    no cause event. The profile's counters are not moved, only its assignment.
    """
    new = profile.copy()
    half_life = model.config.half_life_days * DAY
    at = max(at, new.as_of)
    features = profile_features(new, at, half_life)
    changes, distance = evaluate(new, features, model, at, from_epoch(at), now, None, reason)
    # Past the silence that ends ordinary looks (a buyer's value looks) the counts are ~0:
    # no sample.
    fresh = at - new.as_of < SILENT_HALF_LIVES * half_life
    sample = take_sample(new, features, at, model.config) if fresh else None
    return StepResult(new, changes, "applied", sample, at, distance)


def exit_all(
    profile: Profile,
    model: SegmentModel,
    at: float,
    now: datetime,
    reason: ChangeReason,
    cause_event_id: str | None = None,
) -> StepResult:
    """Leave every segment ``profile`` is in, behavioral and rule (a visitor folded into
    a customer, or a person erased): one exit change each, with no reasons (nothing of
    the person's features is repeated; an erased person's changes carry no scores
    either), and no sample."""
    new = profile.copy()
    at = max(at, new.as_of)
    features = profile_features(new, at, model.config.half_life_days * DAY)
    look = _Assessment(new, features, model, from_epoch(at), now, cause_event_id, reason, at)
    if reason == "erased":
        look._scores = {}
    if new.segment is not None:
        look.add("behavioral", (new.segment, None), model.segment_names(), model.version, [])
        new.segment, new.pending, new.pending_count, new.pending_since = None, None, 0, None
    names = model.rules.names if model.rules is not None else {}
    for segment in new.rule_segments:
        look.add("rule", (segment, None), names, None, [])
    new.rule_segments = []
    return StepResult(new, look.changes, "applied", None, at, None)


def take_sample(
    profile: Profile, features: dict[str, float], at: float, config: EngineConfig
) -> dict[str, float] | None:
    """The features as a sample for the model, at most once per learn interval per customer,
    and only once the customer has been seen for ``learn_after_hours``.

    Silent customers are sampled by the sweep too, so the model sees the population
    as it is (decayed), not only as it looks at the moment of an event: on a purchase
    log every event-time sample says "active today", and on a clickstream a first
    click says "brief visit" of everyone.
    """
    if not sample_due(profile, at, config):
        return None
    profile.learned_at = at
    return features


def sample_due(profile: Profile, at: float, config: EngineConfig) -> bool:
    """Whether the customer feeds the model at ``at`` (see :func:`take_sample`)."""
    if at - profile.first_seen < learn_after(config):
        return False
    return profile.learned_at is None or at - profile.learned_at >= (
        config.learn_interval_hours * 3_600.0
    )


def due_at(profile: Profile, config: EngineConfig, after: float | None = None) -> float | None:
    """When the sweep should next look at a silent customer (epoch s), or None: never.

    Every customer is looked at, assigned or not: one whose events all came before
    the model was ready (or before it had learned enough) is assessed by a look.
    ``after`` is when the customer was last looked at (default: its newest event).
    A pending move is looked at again once its dwell time has passed; otherwise a
    silent customer is looked at every seventh of a half-life (daily, by default),
    until six half-lives of silence have decayed its counts to under 2 %. A customer
    who bought is then looked at once per half-life until ``value.watch_days`` of
    silence: its ``p_alive`` keeps falling (the value segments follow it).
    """
    last = profile.as_of if after is None else max(after, profile.as_of)
    half_life = config.half_life_days * DAY
    if profile.pending is not None and profile.pending_since is not None:
        confirm = profile.pending_since + config.dwell_hours * 3_600.0
        if confirm > last:
            return confirm
    if last - profile.as_of >= SILENT_HALF_LIVES * half_life:
        if profile.first_purchase is None:
            return None
        following = last + half_life
        return following if following - profile.as_of <= config.value.watch_days * DAY else None
    return last + look_interval(config)


def learn_after(config: EngineConfig) -> float:
    """Seconds a customer must have been seen before it feeds the model."""
    if config.learn_after_hours is not None:
        return config.learn_after_hours * 3_600.0
    return look_interval(config)


def look_interval(config: EngineConfig) -> float:
    """Seconds between two looks of the sweep at a silent customer: a seventh of a
    half-life (a day, by default)."""
    return config.half_life_days * DAY / 7
