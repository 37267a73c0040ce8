"""The power loop: read the battery, apply the policy, report, shut down cleanly in time.

Runs inside the node's TaskGroup. Reading, applying a plan, reporting a status record and
shutting down are callables handed in by the service, so this loop is tested with fakes and
without sleeping (the sleep is a parameter too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shelterkit.errors import ShelterkitError
from shelterkit.power.policy import PowerLevel, PowerPlan, plan_for, status_battery_pct
from shelterkit.power.supply import PowerReading

log = logging.getLogger(__name__)

# Seconds between readings: a 2-cell pack loses well under 1 % a minute under a Pi's load.
POWER_POLL_S = 30.0
# A status record goes upstream when the charge moved this much since the last one
# (or the level changed): a few records per hour on battery, none on steady mains.
STATUS_STEP_PCT = 5


@dataclass
class PowerMonitor:
    read: Callable[[], PowerReading | None]  # blocking sysfs/I2C read: run in a thread
    apply: Callable[[PowerPlan], Awaitable[None]]
    report: Callable[[int], Awaitable[None]]  # publish a status with this battery_pct
    shut_down: Callable[[], Awaitable[None]]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    level: PowerLevel = PowerLevel.NORMAL
    reported_pct: int | None = None
    last: PowerReading | None = None

    async def step(self) -> PowerPlan:
        """One reading and what follows from it."""
        try:
            reading = await asyncio.to_thread(self.read)
        except ShelterkitError as exc:
            log.warning("power reading failed: %s", exc)
            reading = None
        self.last = reading
        plan = plan_for(reading, self.level)
        changed = plan.level != self.level
        if changed:
            log.warning(
                "power: %s → %s (battery %s %%)",
                self.level.name.lower(),
                plan.level.name.lower(),
                reading.battery_pct if reading else "?",
            )
            self.level = plan.level
            await self.apply(plan)
        pct = status_battery_pct(reading)
        if changed or self.reported_pct is None or abs(pct - self.reported_pct) >= STATUS_STEP_PCT:
            self.reported_pct = pct
            await self.report(pct)
        if plan.shut_down:
            log.error("battery at %s %%: shutting down cleanly now", pct)
            await self.shut_down()
        return plan

    async def run(self, interval_s: float = POWER_POLL_S) -> None:
        while True:
            plan = await self.step()
            if plan.shut_down:
                return
            await self.sleep(interval_s)


__all__ = ["POWER_POLL_S", "STATUS_STEP_PCT", "PowerMonitor"]
