"""The model's lifecycle as customers see it: segments that a new model state retired.

A refit or a merge can end a segment. Its members must not stay in it silently: as
soon as the model that retired it is in force, each is re-assessed (a change with
``reason`` ``retired`` and no cause event). :class:`RetiredSegments` tells, after
each model update, which segments just went; :func:`members_of` finds their members.

>>> from segflow.models.profile import Profile
>>> a = Profile.new("a", 0.0); a.segment = "seg-1"
>>> b = Profile.new("b", 0.0); b.segment = "seg-2"
>>> [p.customer_id for p in members_of([a, b], frozenset({"seg-2"}))]
['b']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .model import SegmentModel
from .profile import Profile


class RetiredSegments:
    """Follows a model's segment ids: :meth:`since_last` gives the ids gone since the
    last call.

    >>> from segflow.models.config import EngineConfig
    >>> watch = RetiredSegments()
    >>> watch.since_last(SegmentModel.create(EngineConfig()))
    frozenset()
    """

    def __init__(self) -> None:
        self._live: frozenset[str] = frozenset()

    def since_last(self, model: SegmentModel) -> frozenset[str]:
        """The segment ids live at the last call and not in ``model`` now."""
        live = model.segment_ids()
        if live is self._live:
            return frozenset()
        gone = self._live - live
        self._live = live
        return gone


def is_member(profile: Profile, segments: frozenset[str]) -> bool:
    """Whether the customer's behavioral segment (or pending move) is one of ``segments``."""
    return profile.segment in segments or profile.pending in segments


def members_of(profiles: Iterable[Profile], segments: frozenset[str]) -> Iterator[Profile]:
    """The profiles that are members (:func:`is_member`) of one of ``segments``."""
    return (profile for profile in profiles if is_member(profile, segments))
