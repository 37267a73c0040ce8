"""Nodes on an emulated radio medium: many ``RadioSync`` engines, one virtual clock.

The adapter between ``RadioSync`` (the node's real sync code over a ``RadioLink``) and
``radio.medium.RadioMedium``: what a station is granted goes on air; what the medium
delivers is fed back as received bytes. Time is virtual and jumps to the next thing that
happens, so an hour of radio takes moments; the stores, sessions and governors are the
real ones. Tests and the city simulation use it; the demo can run it in real time
(``run(…, realtime=True)``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from shelterkit.links.radio import RadioSync
from shelterkit.radio.medium import RadioMedium

# Retry after a busy channel: the end of the heard transmission plus a random backoff of up
# to this long, so two stations waiting for the same silence do not collide again.
BUSY_BACKOFF_S = 0.2
# When something is ready "now", the clock still moves this much (the pause makes progress).
STEP_S = 0.001


@dataclass
class EmulatedRadio:
    medium: RadioMedium
    engines: dict[int, RadioSync]  # station id -> engine (the station ids of their links)
    rng: random.Random
    now: float = 0.0
    carrier_sense: bool = True
    # a station that found the channel busy waits for its own random backoff after the
    # silence, not for whichever station wakes first (that would make them all collide)
    _hold_until: dict[int, float] = field(default_factory=dict)

    async def run(
        self,
        until: float,
        *,
        done: Callable[[], bool] | None = None,
        max_steps: int = 1_000_000,
        realtime: bool = False,
    ) -> None:
        """Advance to ``until`` (virtual seconds) or until ``done()`` holds."""
        for _ in range(max_steps):
            if self.now > until or (done is not None and done()):
                return
            for rx in self.medium.collect(self.now):
                receiver = self.engines.get(rx.station)
                if receiver is not None:  # a station without an engine is switched off
                    await receiver.receive(rx.data, rx.at_s)
            wakes: list[float] = []
            for station, engine in self.engines.items():
                link = engine.link
                heard_at = self.now + link.governor.profile.carrier_sense_s
                hold = self._hold_until.get(station)
                if hold is not None and self.now < hold:
                    wakes.append(hold)
                    continue
                busy = self.medium.busy_until(station, heard_at) if self.carrier_sense else None
                if busy is not None:
                    # carrier sense: whatever the step would put on air (frames queued during
                    # the step too, e.g. a beacon) waits for silence and a random backoff;
                    # timers run a little late
                    self._hold_until[station] = busy + 0.01 + BUSY_BACKOFF_S * self.rng.random()
                    wakes.append(self._hold_until[station])
                    continue
                self._hold_until.pop(station, None)
                out = await engine.step(self.now)
                if out.grant is not None:
                    self.medium.transmit(
                        station, out.data, out.grant.tx_start_us / 1e6, out.grant.airtime_s
                    )
                    wakes.append(self.now)
                if out.wake_at is not None:
                    wakes.append(out.wake_at)
            nxt = self.medium.next_event_s()
            if nxt is not None:
                wakes.append(nxt)
            future = [w for w in wakes if w > self.now]
            target = self.now + STEP_S if any(w <= self.now for w in wakes) else None
            if target is None:
                target = min(future) if future else until + STEP_S
            target = min(target, until + STEP_S)
            if realtime:
                await asyncio.sleep(max(0.0, target - self.now))
            else:
                await asyncio.sleep(0)  # let store tasks run
            self.now = target
        raise RuntimeError("the emulated radio did not settle")
