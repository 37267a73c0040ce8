"""The node's recent log lines, kept in memory for staff (``GET /api/admin/log``).

A ``LogRing`` is a ``logging.Handler`` that keeps the last ``MAX_LOG_LINES`` records worth
showing to staff: every WARNING and above, and INFO from shelterkit's own loggers (peers
found and lost, staff actions, syncs that failed, the uplink coming back). Debug lines
and libraries' INFO chatter are not kept. Each line gets a sequence number so that a
client can ask only for what is new (``since``).

Logs are read by whoever holds a staff token; nothing secret belongs in them. The ring
also blanks anything shaped like a staff token or an ``Authorization`` value before it
keeps a line, in case a future message quotes one by mistake.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

# Lines kept: at one line a minute (a busy shelter) that is three hours of history, and
# at 400 characters at most 80 KB of memory.
MAX_LOG_LINES = 200
MAX_LINE_CHARS = 400
# INFO records are kept from these loggers only (WARNING and above from any).
INFO_LOGGERS = ("shelterkit",)
REDACTED = "[redacted]"
# Staff tokens (admin.tokens: sk1.<expiry>.<mac>) and Authorization header values.
_SECRETS = (
    re.compile(r"\bsk1\.\d+\.[A-Za-z0-9_=-]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
)


def redact(text: str) -> str:
    """``text`` with anything shaped like a token or credential replaced."""
    text = _SECRETS[0].sub(REDACTED, text)
    return _SECRETS[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    time_ms: int
    level: str  # "info", "warning", "error", "critical"
    source: str  # the logger name without the "shelterkit." prefix
    text: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time_ms": self.time_ms,
            "level": self.level,
            "source": self.source,
            "text": self.text,
        }


def keeps(record: logging.LogRecord) -> bool:
    """Whether a record is one staff should see."""
    if record.levelno >= logging.WARNING:
        return True
    if record.levelno < logging.INFO:
        return False
    return any(record.name == n or record.name.startswith(n + ".") for n in INFO_LOGGERS)


def line_of(record: logging.LogRecord, seq: int) -> LogLine:
    """One bounded, redacted line from a log record (no tracebacks: the type is enough)."""
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # a bad format string must not lose the line
        text = str(record.msg)
    if record.exc_info and record.exc_info[0] is not None:
        text += f" ({record.exc_info[0].__name__})"
    text = redact(" ".join(text.split()))
    if len(text) > MAX_LINE_CHARS:
        text = text[: MAX_LINE_CHARS - 1] + "…"
    source = record.name.removeprefix("shelterkit.")
    level = record.levelname.lower() if record.levelno <= logging.CRITICAL else "critical"
    return LogLine(seq, int(record.created * 1000), level, source, text)


class LogRing(logging.Handler):
    """The last ``capacity`` lines worth showing to staff, numbered from 1."""

    def __init__(self, capacity: int = MAX_LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self._lines: collections.deque[LogLine] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._guard = threading.Lock()  # records may come from executor threads
        self._attached: list[logging.Logger] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not keeps(record):
            return
        with self._guard:
            self._seq += 1
            self._lines.append(line_of(record, self._seq))

    @property
    def last(self) -> int:
        """The sequence number of the newest line (0 before any)."""
        return self._seq

    def since(self, seq: int) -> tuple[list[LogLine], bool]:
        """Lines newer than ``seq``, oldest first, and whether some of them were lost.

        A ``seq`` beyond ``last`` comes from before a restart: everything is new again.
        """
        with self._guard:
            if seq > self._seq:
                seq = 0
            lines = [line for line in self._lines if line.seq > seq]
            first = self._lines[0].seq if self._lines else self._seq + 1
            return lines, first > seq + 1

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Start collecting from ``logger`` (the root logger: every logger's records)."""
        target = logger or logging.getLogger()
        target.addHandler(self)
        self._attached.append(target)

    def detach(self) -> None:
        for target in self._attached:
            target.removeHandler(self)
        self._attached.clear()
