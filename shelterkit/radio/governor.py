"""The airtime governor: nothing is written to a radio before it grants the airtime.

Time is passed in (seconds, float) and kept inside as integer microseconds, so that a
``Wait.until_s`` handed back as ``now`` is always granted and the rules are checked
without rounding doubt. Airtime is rounded up to the next microsecond, pauses and
windows are exact.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from shelterkit.errors import LinkError
from shelterkit.radio.profiles import RegionProfile

US_PER_S = 1_000_000
# Ledger entries kept for the sliding window; beyond this the two oldest are merged into
# one (later-placed, so conservatively counted). 360 s/h in 1 s frames is 360 entries.
MAX_LEDGER_ENTRIES = 4096
# Grants kept for tests and health to inspect (about a day of 4 s frames at full duty).
MAX_GRANT_LOG = 20_000


def to_us(seconds: float) -> int:
    """Seconds to whole microseconds, rounding a duration up (never under-counted)."""
    return math.ceil(round(seconds * US_PER_S, 3))


def _instant_us(seconds: float) -> int:
    return round(seconds * US_PER_S)


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission to start carrier sense at ``start_us`` and transmit until ``end_us``."""

    start_us: int
    tx_start_us: int
    end_us: int

    @property
    def airtime_us(self) -> int:
        return self.end_us - self.tx_start_us

    @property
    def start_s(self) -> float:
        return self.start_us / US_PER_S

    @property
    def end_s(self) -> float:
        return self.end_us / US_PER_S

    @property
    def airtime_s(self) -> float:
        return self.airtime_us / US_PER_S


@dataclass(frozen=True, slots=True)
class Wait:
    """Not now: ask again at ``until_s``; ``reason`` is ``pause`` or ``window``."""

    until_us: int
    reason: str

    @property
    def until_s(self) -> float:
        return self.until_us / US_PER_S


@dataclass(frozen=True, slots=True)
class BudgetReport:
    profile: str
    window_airtime_s: float  # airtime in the window ending now
    window_budget_s: float | None
    fraction: float  # of the window budget; duty cycle of the window when there is none
    grants: int
    waits: int
    violations: int  # grants the self-check found against the profile (refused); always 0


@dataclass(slots=True)
class AirtimeGovernor:
    """Decides when a transmission of a given airtime may start under ``profile``.

    ``reserve(now, airtime)`` either grants (and books) the airtime or says when to ask
    again. A caller writes a frame to the port only with a grant in hand.
    """

    profile: RegionProfile
    log: deque[Grant] = field(default_factory=lambda: deque(maxlen=MAX_GRANT_LOG), init=False)
    grants: int = field(default=0, init=False)
    waits: int = field(default=0, init=False)
    violations: int = field(default=0, init=False)
    _ledger: deque[tuple[int, int]] = field(default_factory=deque, init=False)  # (end, airtime) µs
    _ledger_us: int = field(default=0, init=False)  # sum of the ledger's airtime
    _last: Grant | None = field(default=None, init=False)

    def reserve(self, now: float, airtime_s: float) -> Grant | Wait:
        now_us, airtime_us = _instant_us(now), to_us(airtime_s)
        self._check_airtime(airtime_us)
        self._prune(now_us)
        start_us, reason = self._earliest_us(now_us, airtime_us)
        if start_us > now_us:
            self.waits += 1
            return Wait(start_us, reason)
        tx_start_us = now_us + to_us(self.profile.carrier_sense_s)
        grant = Grant(now_us, tx_start_us, tx_start_us + airtime_us)
        if not self._self_check(grant):
            self.violations += 1
            self.waits += 1
            return Wait(now_us + 1, "self-check")
        self._book(grant)
        return grant

    def earliest(self, now: float, airtime_s: float) -> float:
        """When ``reserve`` would grant ``airtime_s``, without booking anything."""
        now_us, airtime_us = _instant_us(now), to_us(airtime_s)
        self._check_airtime(airtime_us)
        self._prune(now_us)
        return self._earliest_us(now_us, airtime_us)[0] / US_PER_S

    def report(self, now: float) -> BudgetReport:
        now_us = _instant_us(now)
        self._prune(now_us)
        window_us = to_us(self.profile.window_s)
        used = self._overlap_us(now_us - window_us) / US_PER_S
        budget = self.profile.window_budget_s
        fraction = used / (budget if budget is not None else self.profile.window_s)
        return BudgetReport(
            self.profile.name, used, budget, fraction, self.grants, self.waits, self.violations
        )

    def _check_airtime(self, airtime_us: int) -> None:
        limit = self.profile.max_transmission_s
        if limit is not None and airtime_us > to_us(limit):
            raise LinkError(
                f"a transmission of {airtime_us / 1000:.1f} ms exceeds the "
                f"{limit * 1000:.0f} ms limit of profile {self.profile.name}"
            )
        budget = self.profile.window_budget_s
        if budget is not None and airtime_us > to_us(budget):
            raise LinkError(f"a transmission longer than the window budget of {budget} s")

    def _pause_after_us(self, grant: Grant) -> int:
        factor_us = math.ceil(self.profile.pause_factor * grant.airtime_us)
        return max(to_us(self.profile.min_pause_s), factor_us)

    def _earliest_us(self, now_us: int, airtime_us: int) -> tuple[int, str]:
        start_us, reason = now_us, "now"
        if self._last is not None:
            after_pause = self._last.end_us + self._pause_after_us(self._last)
            if after_pause > start_us:
                start_us, reason = after_pause, "pause"
        budget = self.profile.window_budget_s
        if budget is not None:
            cs_us = to_us(self.profile.carrier_sense_s)
            window_us = to_us(self.profile.window_s)
            end_us = start_us + cs_us + airtime_us
            first_ok = self._first_window_start(end_us - window_us, to_us(budget) - airtime_us)
            candidate = first_ok + window_us - airtime_us - cs_us
            if candidate > start_us:
                start_us, reason = candidate, "window"
        return start_us, reason

    def _self_check(self, grant: Grant) -> bool:
        """Check the grant against the profile by the plain definition of each rule."""
        profile = self.profile
        if grant.airtime_us > _max_transmission_us(profile):
            return False
        if grant.tx_start_us - grant.start_us < to_us(profile.carrier_sense_s):
            return False
        last = self._last
        if last is not None and grant.start_us - last.end_us < self._pause_after_us(last):
            return False
        if profile.window_budget_s is not None:
            window_start = grant.end_us - to_us(profile.window_s)
            used = self._overlap_us(window_start) + grant.airtime_us
            if used > to_us(profile.window_budget_s):
                return False
        return True

    def _book(self, grant: Grant) -> None:
        self.grants += 1
        self._last = grant
        self.log.append(grant)
        self._ledger.append((grant.end_us, grant.airtime_us))
        self._ledger_us += grant.airtime_us
        if len(self._ledger) > MAX_LEDGER_ENTRIES:
            _end1, air1 = self._ledger.popleft()
            end2, air2 = self._ledger.popleft()
            self._ledger.appendleft((end2, air1 + air2))

    def _prune(self, now_us: int) -> None:
        horizon = now_us - to_us(self.profile.window_s)
        while self._ledger and self._ledger[0][0] <= horizon:
            self._ledger_us -= self._ledger.popleft()[1]

    def _overlap_us(self, window_start_us: int) -> int:
        """Airtime of the ledger at or after ``window_start_us``.

        Walks only the entries that end before the window opens or straddle it: after
        pruning, those are the few of the last carrier sense and airtime.
        """
        total = self._ledger_us
        for end, airtime in self._ledger:
            if end <= window_start_us:
                total -= airtime
                continue
            total -= max(0, window_start_us - (end - airtime))
            break
        return total

    def _first_window_start(self, window_start_us: int, allowed_us: int) -> int:
        """Smallest window start ≥ ``window_start_us`` leaving at most ``allowed_us`` in it.

        Entries are in time order and do not overlap, so sliding the window start right
        removes their airtime from the left, one entry after the other.
        """
        excess = self._overlap_us(window_start_us) - allowed_us
        if excess <= 0:
            return window_start_us
        for end, airtime in self._ledger:
            if end <= window_start_us:
                continue
            begin = max(end - airtime, window_start_us)
            if end - begin >= excess:
                return begin + excess
            excess -= end - begin
        raise AssertionError("window budget smaller than the new transmission")


def _max_transmission_us(profile: RegionProfile) -> int | float:
    limit = profile.max_transmission_s
    return math.inf if limit is None else to_us(limit)


def audit_grants(grants: Iterable[Grant], profile: RegionProfile) -> list[str]:
    """Every rule of ``profile`` broken by a sequence of grants, in words (empty: none)."""
    problems: list[str] = []
    items = list(grants)
    cs_us = to_us(profile.carrier_sense_s)
    for i, g in enumerate(items):
        if g.airtime_us > _max_transmission_us(profile):
            problems.append(f"grant {i}: {g.airtime_us} us on air")
        if g.tx_start_us - g.start_us < cs_us:
            problems.append(f"grant {i}: carrier sense of {g.tx_start_us - g.start_us} us")
        if i:
            prev = items[i - 1]
            pause = max(
                to_us(profile.min_pause_s), math.ceil(profile.pause_factor * prev.airtime_us)
            )
            if g.start_us - prev.end_us < pause:
                problems.append(f"grant {i}: pause of {g.start_us - prev.end_us} us")
    if profile.window_budget_s is not None:
        window_us, budget_us = to_us(profile.window_s), to_us(profile.window_budget_s)
        first, running = 0, 0  # grants are in time order and do not overlap
        for i, g in enumerate(items):
            running += g.airtime_us
            window_start = g.end_us - window_us
            while items[first].end_us <= window_start:
                running -= items[first].airtime_us
                first += 1
            used = running - max(0, window_start - items[first].tx_start_us)
            if used > budget_us:
                problems.append(f"grant {i}: {used} us in the window ending at {g.end_us}")
    return problems
