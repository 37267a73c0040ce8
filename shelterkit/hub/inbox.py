"""The hub's CAP inbox: a folder where city-hall systems (or staff) drop CAP 1.2 files.

Each file is imported once (``Hub.import_cap``), then moved to ``done/``, or to
``rejected/`` next to a ``<name>.reason`` file holding the one-line reason. A file is read
only once it has stopped changing (same size and modification time for ``settle_s``), so a
writer that copies slowly into the folder is never read half-written; writers that can
should write a hidden or ``.tmp``/``.part`` name and rename it (never read). Import is
idempotent, so a restart between importing and moving a file imports nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shelterkit.cap import MAX_CAP_BYTES, CapRefused
from shelterkit.errors import StorageError
from shelterkit.hub.service import CapImport, Hub

log = logging.getLogger(__name__)

DONE = "done"
REJECTED = "rejected"
REASON_SUFFIX = ".reason"
# Names a writer uses while a file is not complete yet: never read.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".swp", "~")
INBOX_SCAN_S = 1.0
INBOX_SETTLE_S = 2.0
# Files looked at per scan; more wait for the next scan (a burst of thousands is a mistake).
MAX_INBOX_FILES = 100
# Copies of one name kept in done/ or rejected/ (name, name.1.xml, …).
MAX_SAME_NAME = 1000

# (size in bytes, modification time in ns) of a file in the inbox.
Stamp = tuple[int, int]


def is_candidate(name: str) -> bool:
    """A file name the inbox imports: not hidden, not a partial write, not a reason file."""
    return not (
        name.startswith(".") or name.endswith(PARTIAL_SUFFIXES) or name.endswith(REASON_SUFFIX)
    )


@dataclass
class Settling:
    """Which files have stopped changing. Pure: the listing and the time are passed in."""

    settle_s: float
    seen: dict[str, tuple[Stamp, float]] = field(default_factory=dict)

    def ready(self, listing: Mapping[str, Stamp], now: float) -> list[str]:
        """Names, sorted, whose stamp has not changed for ``settle_s``; forgets the rest."""
        for name in list(self.seen):
            if name not in listing:
                del self.seen[name]
        out = []
        for name, stamp in listing.items():
            known = self.seen.get(name)
            if known is None or known[0] != stamp:
                self.seen[name] = (stamp, now)
            elif now - known[1] >= self.settle_s:
                out.append(name)
        return sorted(out)

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


def list_inbox(folder: Path, limit: int = MAX_INBOX_FILES) -> dict[str, Stamp]:
    """Regular files of the inbox that may be imported, at most ``limit`` of them."""
    listing: dict[str, Stamp] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_candidate(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            listing[entry.name] = (st.st_size, st.st_mtime_ns)
            if len(listing) >= limit:
                break
    return listing


def read_document(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(MAX_CAP_BYTES + 1)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name.N<suffix>`` if a file of that name is there already."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, MAX_SAME_NAME):
        if not target.exists() and not (folder / (target.name + REASON_SUFFIX)).exists():
            return target
        target = folder / f"{stem}.{n}{suffix}"
    raise OSError(f"{folder} holds {MAX_SAME_NAME} files named {name}")


def file_away(folder: Path, name: str, reason: str | None) -> Path:
    """Move an inbox file to done/ (``reason`` None) or rejected/ with its reason file."""
    target = free_name(folder / (DONE if reason is None else REJECTED), name)
    if reason is not None:
        tmp = target.with_name("." + target.name + REASON_SUFFIX + ".tmp")
        tmp.write_text(reason + "\n", "utf-8")
        os.replace(tmp, target.with_name(target.name + REASON_SUFFIX))
    os.replace(folder / name, target)
    return target


class CapInbox:
    """Watches ``folder`` and imports what is dropped there (run as a hub job)."""

    def __init__(
        self,
        hub: Hub,
        folder: Path,
        *,
        scan_s: float = INBOX_SCAN_S,
        settle_s: float = INBOX_SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.folder = folder
        self.scan_s = scan_s
        self.settling = Settling(settle_s)
        self.clock = clock
        self.trouble = ""  # the last failure logged, so a lasting one is logged once

    def prepare(self) -> None:
        for sub in (DONE, REJECTED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    async def scan(self) -> dict[str, CapImport | CapRefused]:
        """One pass: import every file that has settled; return what became of each."""
        listing = await asyncio.to_thread(list_inbox, self.folder)
        ready = self.settling.ready(listing, self.clock())
        documents: list[tuple[str, bytes]] = []
        results: dict[str, CapImport | CapRefused] = {}
        for name in ready:
            try:
                xml = await asyncio.to_thread(read_document, self.folder / name)
            except OSError as exc:  # gone or unreadable: look again next scan
                log.warning("CAP inbox: cannot read %s: %s", name, exc.strerror)
                self.settling.forget(name)
                continue
            if len(xml) > MAX_CAP_BYTES:
                results[name] = CapRefused(
                    "too_large", f"the file is larger than {MAX_CAP_BYTES} bytes"
                )
            else:
                documents.append((name, xml))
        results.update(await self.hub.import_cap_batch(documents))
        for name, result in results.items():
            reason = str(result) if isinstance(result, CapRefused) else None
            target = await asyncio.to_thread(file_away, self.folder, name, reason)
            self.settling.forget(name)
            if reason is not None:
                log.warning("CAP inbox: %s → %s: %s", name, target.parent.name, reason)
            elif isinstance(result, CapImport):
                what = "imported" if result.new else "already held"
                log.info("CAP inbox: %s %s → %s", what, result.identifier, target.parent.name)
        return results

    async def run(self) -> None:
        await asyncio.to_thread(self.prepare)
        log.info("CAP inbox: watching %s", self.folder)
        while True:
            try:
                await self.scan()
            except (OSError, StorageError) as exc:  # e.g. folder unmounted: keep trying
                if str(exc) != self.trouble:
                    log.warning("CAP inbox %s: %s", self.folder, exc)
                self.trouble = str(exc)
            else:
                if self.trouble:
                    log.info("CAP inbox %s: working again", self.folder)
                self.trouble = ""
            await asyncio.sleep(self.scan_s)
