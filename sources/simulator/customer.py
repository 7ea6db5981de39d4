"""One customer's events, generated a day at a time, in time order.

A customer follows its plan's persona, then its switch's (each over a segment of the
span). Its own activity (web sessions, downloads, orders) is a superposition of
Poisson processes drawn per day; the campaigns it receives add the email events. Every
draw comes from the customer's own generator, seeded with the run's seed and its index,
so customers are independent of each other and of the order they are generated in.

An anonymous customer (see :mod:`.identity`) draws exactly the same; only the identity
on its site events differs (its cookie id until it identifies), and the identify event
is added.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from segflow.models.events import (
    ClickEvent,
    DownloadEvent,
    EmailEvent,
    Event,
    IdentifyEvent,
    PurchaseEvent,
)

from .catalog import (
    ASSETS,
    COUNTRY_TABLE,
    CURRENCY,
    INDUSTRY_TABLE,
    LEAD_TABLE,
    PAGE_TABLES,
    PEAK_HOUR,
    REFERRER_TABLE,
    SITE,
    SIZE_TABLE,
    STAGES,
    UTM,
    pick,
)
from .epoch import DAY, SECOND, moment
from .identity import LANDING, Visitor
from .personas import PERSONA_BY_NAME, Persona
from .plan import Context, CustomerPlan

# Raw events in a customer's pending heap: (epoch us, sequence, kind, type-specific fields).
_CLICK, _DOWNLOAD, _EMAIL, _PURCHASE = 0, 1, 2, 3
_Raw = tuple[int, int, int, dict[str, Any]]
_VALIDATORS: tuple[Callable[[dict[str, Any]], Event], ...] = tuple(
    model.__pydantic_validator__.validate_python
    for model in (ClickEvent, DownloadEvent, EmailEvent, PurchaseEvent)
)
_IDENTIFY = IdentifyEvent.__pydantic_validator__.validate_python
Item = tuple[int, Event]  # (epoch us, event)


# The independent Poisson processes of a persona's own activity, superposed: one draw of
# the day's total, then each arrival is marked with its process.
_SESSION, _AWARE, _CONSIDER, _DECIDE, _ORDER = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class _Segment:
    """A customer's persona over ``[lo, hi)`` with its superposed daily activity."""

    persona: Persona
    lo: int
    hi: int
    rate: float  # expected arrivals per day (weekday-boosted, before weekend thinning)
    limit: float  # exp(-rate), for Knuth's Poisson draw
    processes: tuple[int, ...]
    cum: tuple[float, ...]


def _segment(persona: Persona, lo: int, hi: int, scale: float) -> _Segment:
    """``persona`` over ``[lo, hi)``, its rates multiplied by ``scale``."""
    rates = (
        (_SESSION, persona.sessions_per_day),
        (_AWARE, persona.awareness_per_day),
        (_CONSIDER, persona.consideration_per_day),
        (_DECIDE, persona.decision_per_day),
        (_ORDER, persona.purchases_per_day),
    )
    active = [(process, rate * scale) for process, rate in rates if rate > 0]
    total = sum(rate for _, rate in active)
    return _Segment(
        persona=persona,
        lo=lo,
        hi=hi,
        rate=total,
        limit=math.exp(-total),
        processes=tuple(process for process, _ in active),
        cum=tuple(accumulate(rate for _, rate in active)),
    )


def _segments(plan: CustomerPlan, context: Context, scale: float) -> tuple[_Segment, ...]:
    """The initial persona's segment, up to the switch if any, then the new persona's."""
    start, end = context.start_us, context.end_us
    initial = PERSONA_BY_NAME[plan.initial]
    if plan.switch_us is None or plan.target is None:
        return (_segment(initial, start, end, scale),)
    target = PERSONA_BY_NAME[plan.target]
    return (
        _segment(initial, start, plan.switch_us, scale),
        _segment(target, plan.switch_us, end, scale),
    )


class Customer:
    """Generates one customer's events in time order, a day at a time."""

    def __init__(
        self,
        plan: CustomerPlan,
        context: Context,
        visitor: Visitor | None = None,
        keep_truth: bool = False,
    ) -> None:
        self.plan = plan
        self.ctx = context
        # Anonymous site activity (None: every event carries the customer id), and the
        # ids of the anonymous events emitted so far if ``keep_truth``.
        self.visitor = visitor
        self.anonymous_events: list[str] | None = [] if keep_truth else None
        rng = random.Random(f"segflow-simulator/{context.seed}/{plan.index}")
        self.rng = rng
        country: str = pick(rng, COUNTRY_TABLE)
        self.properties: dict[str, str] = {
            "lead_source": pick(rng, LEAD_TABLE),
            "country": country,
            "company_size": pick(rng, SIZE_TABLE),
            "industry": pick(rng, INDUSTRY_TABLE),
        }
        self.peak_s = (PEAK_HOUR[country] + rng.gauss(0.0, 1.5)) * 3600.0
        sigma = context.heterogeneity
        activity = rng.lognormvariate(-sigma * sigma / 2.0, sigma) if sigma > 0 else 1.0
        # Weekdays get 7 / (5 + 2 w) of the mean daily rate, weekend days w times that.
        scale = activity * 7.0 / (5.0 + 2.0 * context.weekend_factor)
        self.pending: list[_Raw] = []
        self.emitted = 0
        self.next_campaign = 0
        self.seq = 0
        self.sessions = 0
        self.orders = 0
        self.stopped_us = context.end_us  # unsubscribed or complained: no more campaigns
        # The persona's own events (all but received emails) happen inside its segment.
        self.segments = _segments(plan, context, scale)

    def _push(self, us: int, hi: int, kind: int, fields: dict[str, Any]) -> bool:
        """Queue an event if it happens before ``hi`` (and the end of the simulation)."""
        if us >= hi or us >= self.ctx.end_us:
            return False
        self.seq += 1
        heapq.heappush(self.pending, (us, self.seq, kind, fields))
        return True

    def _activity(self, segment: _Segment, chunk_us: int) -> None:
        """One day of web sessions, downloads and orders under ``segment``'s persona."""
        rng = self.rng
        # Knuth's Poisson draw (a normal approximation for implausibly high rates).
        if segment.rate > 30.0:
            count = max(0, round(rng.gauss(segment.rate, math.sqrt(segment.rate))))
        else:
            count = 0
            p = rng.random()
            while p > segment.limit:
                count += 1
                p *= rng.random()
        if not count:
            return
        arrivals = []
        peak = self.peak_s - self.ctx.start_tod_s
        weekend_factor = self.ctx.weekend_factor
        cum = segment.cum
        for _ in range(count):
            # Around the customer's busy hour; Saturdays and Sundays (UTC) are thinned.
            us = chunk_us + int(((peak + rng.gauss(0.0, 9000.0)) % 86_400.0) * SECOND)
            process = segment.processes[bisect_right(cum, rng.random() * cum[-1], 0, len(cum) - 1)]
            if ((us // DAY) + 3) % 7 >= 5 and rng.random() >= weekend_factor:
                continue
            if segment.lo <= us < segment.hi:
                arrivals.append((us, process))
        arrivals.sort()
        for us, process in arrivals:
            if process == _SESSION:
                self._session(segment, us)
            elif process == _ORDER:
                self._order(segment, us)
            else:
                stage = STAGES[process - _AWARE]
                asset_id, asset_type = rng.choice(ASSETS[stage])
                self._push(
                    us,
                    segment.hi,
                    _DOWNLOAD,
                    {"asset_id": asset_id, "asset_type": asset_type, "funnel_stage": stage},
                )

    def _session(self, segment: _Segment, us: int) -> None:
        rng = self.rng
        persona = segment.persona
        clicks = 1
        if persona.clicks_per_session > 1.0:
            limit = math.exp(1.0 - persona.clicks_per_session)
            p = rng.random()
            while p > limit:
                clicks += 1
                p *= rng.random()
        self.sessions += 1
        session_id = f"{self.plan.customer_id}-s{self.sessions}"
        referrer: str | None = pick(rng, REFERRER_TABLE)
        urls, cum = PAGE_TABLES[persona.name]
        last = len(cum) - 1
        total = cum[-1]
        for _ in range(clicks):
            url = urls[bisect_right(cum, rng.random() * total, 0, last)]
            if not self._push(
                us, segment.hi, _CLICK, {"url": url, "referrer": referrer, "session_id": session_id}
            ):
                return
            referrer = SITE + url
            us += 2 * SECOND + int(rng.expovariate(1.0 / 45.0) * SECOND)

    def _order(self, segment: _Segment, us: int) -> None:
        rng = self.rng
        persona = segment.persona
        self.orders += 1
        order_id = f"{self.plan.customer_id}-o{self.orders}"
        # Log-normal with sigma 0.5 and mean order_value.
        amount = round(rng.lognormvariate(math.log(persona.order_value) - 0.125, 0.5), 2)
        self._push(
            us,
            segment.hi,
            _PURCHASE,
            {"order_id": order_id, "amount": amount, "currency": CURRENCY},
        )
        if rng.random() < persona.refund_rate:
            refund_us = us + int(rng.uniform(1.0, 14.0) * DAY)
            self._push(
                refund_us,
                segment.hi,
                _PURCHASE,
                {"order_id": order_id, "amount": -amount, "currency": CURRENCY},
            )

    def _campaign(self, send_us: int, campaign_id: str) -> None:
        """Send campaign ``campaign_id`` at about ``send_us``, and the customer's response."""
        rng = self.rng
        segment = self.segments[-1] if send_us >= self.segments[-1].lo else self.segments[0]
        persona, hi = segment.persona, segment.hi
        sent = send_us + int(rng.uniform(0.0, 1800.0) * SECOND)
        if sent >= self.stopped_us:
            return
        end = self.ctx.end_us
        self._push(sent, end, _EMAIL, {"campaign_id": campaign_id, "action": "sent"})
        if rng.random() < persona.email_bounce:
            self._push(
                sent + int(rng.uniform(2.0, 120.0) * SECOND),
                end,
                _EMAIL,
                {"campaign_id": campaign_id, "action": "bounce"},
            )
            return
        delivered = sent + int(rng.uniform(1.0, 30.0) * SECOND)
        self._push(delivered, end, _EMAIL, {"campaign_id": campaign_id, "action": "delivered"})
        last = self._open(persona, hi, campaign_id, delivered)
        self._leave_list(persona, hi, campaign_id, delivered, last)

    def _open(self, persona: Persona, hi: int, campaign_id: str, delivered: int) -> int:
        """Maybe open the delivered email, then maybe click it; the time of the last of them."""
        rng = self.rng
        if rng.random() >= persona.email_open:
            return delivered
        opened = delivered + int(rng.expovariate(1.0 / (5.0 * 3600.0)) * SECOND)
        if not self._push(opened, hi, _EMAIL, {"campaign_id": campaign_id, "action": "open"}):
            return delivered
        if rng.random() < persona.email_click:
            clicked = opened + 5 * SECOND + int(rng.expovariate(1.0 / 60.0) * SECOND)
            if self._push(clicked, hi, _EMAIL, {"campaign_id": campaign_id, "action": "click"}):
                self._land(persona, hi, campaign_id, clicked)
        return opened

    def _land(self, persona: Persona, hi: int, campaign_id: str, clicked: int) -> None:
        """The email click lands on the site: a short session tagged with UTM."""
        url: str = pick(self.rng, PAGE_TABLES[persona.name])
        self.sessions += 1
        tagged = f"{url}?{UTM}{campaign_id}"
        session_id = f"{self.plan.customer_id}-s{self.sessions}"
        fields: dict[str, Any] = {"url": tagged, "referrer": None, "session_id": session_id}
        if self.visitor is not None:
            fields[LANDING] = True
        self._push(clicked + 2 * SECOND, hi, _CLICK, fields)

    def _leave_list(
        self, persona: Persona, hi: int, campaign_id: str, delivered: int, last: int
    ) -> None:
        """Maybe unsubscribe (after reading, or a day or so after delivery) or complain.

        Either one stops the campaigns from its moment on.
        """
        rng = self.rng
        if rng.random() < persona.email_unsubscribe:
            if last > delivered:
                at = last + 30 * SECOND + int(rng.expovariate(1.0 / 120.0) * SECOND)
            else:
                at = delivered + int(rng.expovariate(1.0 / 86_400.0) * SECOND)
            if self._push(at, hi, _EMAIL, {"campaign_id": campaign_id, "action": "unsubscribe"}):
                self.stopped_us = min(self.stopped_us, at)
        if rng.random() < persona.email_complaint:
            at = delivered + int(rng.expovariate(1.0 / 43_200.0) * SECOND)
            if self._push(at, hi, _EMAIL, {"campaign_id": campaign_id, "action": "complaint"}):
                self.stopped_us = min(self.stopped_us, at)

    def day(self, chunk: int, out: list[Item]) -> None:
        """Generate day ``chunk`` and append the events due before its end to ``out``.

        Days must come in order. The events are appended in time order, numbered
        ``1, 2, ...`` per customer (anonymous ones per cookie instead).
        """
        ctx = self.ctx
        chunk_us = ctx.start_us + chunk * DAY
        chunk_end = min(chunk_us + DAY, ctx.end_us)
        # Everything generated for this day happens at or after chunk_us, so once the day
        # is generated, the pending events before chunk_end are final.
        for segment in self.segments:
            if segment.lo < chunk_end and segment.hi > chunk_us:
                self._activity(segment, chunk_us)
        campaigns = ctx.campaigns
        while self.next_campaign < len(campaigns) and campaigns[self.next_campaign][0] < chunk_end:
            self._campaign(*campaigns[self.next_campaign])
            self.next_campaign += 1
        if self.visitor is not None:
            self._emit_visitor(chunk_end, out)
            return
        pending = self.pending
        customer_id = self.plan.customer_id
        properties = self.properties
        n = self.emitted
        while pending and pending[0][0] < chunk_end:
            us, _, kind, data = heapq.heappop(pending)
            n += 1
            data["event_id"] = f"{customer_id}-{n}"
            data["customer_id"] = customer_id
            data["occurred_at"] = moment(us)
            data["properties"] = properties  # copied by validation
            # What the model's __init__ does, minus its overhead: strict validation.
            out.append((us, _VALIDATORS[kind](data)))
        self.emitted = n
        # _push drops anything at or after the end, so nothing is pending after the last day.

    def _emit_visitor(self, chunk_end: int, out: list[Item]) -> None:
        """:meth:`day`'s emission for an anonymous customer: its site events carry its
        cookie id alone until it identifies, and the identify event comes at that moment."""
        visitor = self.visitor
        assert visitor is not None
        pending = self.pending
        customer_id = self.plan.customer_id
        properties = self.properties
        while pending and pending[0][0] < chunk_end:
            us, _, kind, data = heapq.heappop(pending)
            landing = data.pop(LANDING, False)
            if kind in (_CLICK, _DOWNLOAD):
                if visitor.identified_us is None and self._anonymous(us, kind, data, landing, out):
                    continue
                data["anonymous_id"] = visitor.cookie.cookie_id
            self.emitted += 1
            data["event_id"] = f"{customer_id}-{self.emitted}"
            data["customer_id"] = customer_id
            data["occurred_at"] = moment(us)
            data["properties"] = properties  # copied by validation
            out.append((us, _VALIDATORS[kind](data)))

    def _anonymous(
        self, us: int, kind: int, data: dict[str, Any], landing: bool, out: list[Item]
    ) -> bool:
        """Emit a site event of a customer not identified yet: anonymously (True), or, if
        it identifies the customer, the identify event before it (False: the event itself
        is the caller's to emit, with the customer id)."""
        visitor = self.visitor
        assert visitor is not None
        cookie = visitor.cookie
        trigger, session_id = (
            visitor.click(data["session_id"], landing) if kind == _CLICK else (None, None)
        )
        if trigger is None:
            event_id = cookie.event_id()
            data["event_id"] = event_id
            data["anonymous_id"] = cookie.cookie_id
            data["occurred_at"] = moment(us)
            if session_id is not None:
                data["session_id"] = session_id
            if self.anonymous_events is not None:
                self.anonymous_events.append(event_id)
            out.append((us, _VALIDATORS[kind](data)))
            return True
        self.emitted += 1
        customer_id = self.plan.customer_id
        event_id = f"{customer_id}-{self.emitted}"
        visitor.identified(us, trigger, event_id)
        identify = {
            "event_id": event_id,
            "customer_id": customer_id,
            "anonymous_id": cookie.cookie_id,
            "occurred_at": moment(us),
            "traits": self.properties,  # copied by validation
        }
        out.append((us, _IDENTIFY(identify)))
        return False
