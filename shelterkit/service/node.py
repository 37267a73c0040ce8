"""The shelter node: owns the store, the identity, the clock, trust and the live state.

Every change (a post, a received record) goes through here: it is checked, committed
durably, folded into the in-memory heads, and ``generation`` is bumped so that the portal
re-renders its cached pages once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shelterkit.config import Config
from shelterkit.discovery.ads import listen_is_loopback
from shelterkit.errors import ProtocolError, StorageError, TrustError
from shelterkit.model.anpi import (
    PublicPerson,
    effective_expiry_ms,
    expiry_from,
    listing_of,
    tombstone,
)
from shelterkit.model.fold import entity_key, newer
from shelterkit.model.hlc import HybridClock, wall_ms_of
from shelterkit.model.keys import SEED_BYTES, Identity, short_id
from shelterkit.model.kinds import (
    MAX_REDACT_TARGETS,
    STREAM_OF,
    AnyBody,
    EnrolBody,
    Kind,
    PersonBody,
    RedactBody,
    RedactReason,
    StatusBody,
    Stream,
)
from shelterkit.model.names import NameQuery, matches, search_terms
from shelterkit.model.record import Record, decode_record
from shelterkit.model.redaction import Target
from shelterkit.model.trust import TrustPolicy
from shelterkit.model.wallclock import WallClock
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.storage.store import AppendResult, PendingOwn, Store
from shelterkit.sync import PeerSummarized, VersionVector, accept_batch

log = logging.getLogger(__name__)

# Kinds kept folded in memory for the portal; safety registrations (many) stay in SQL.
MEMORY_KINDS = (Kind.ALERT, Kind.NOTICE, Kind.POST, Kind.MODERATION, Kind.STATUS)


def load_or_create_identity(p: Path, random_bytes: Callable[[int], bytes]) -> Identity:
    if p.exists():
        try:
            seed = bytes.fromhex(p.read_text("ascii").strip())
        except (ValueError, UnicodeDecodeError) as exc:
            raise StorageError(f"node key {p} is unreadable; restore it from the bundle") from exc
        if len(seed) != SEED_BYTES:
            raise StorageError(f"node key {p} has the wrong length")
        return Identity(seed)
    identity = Identity.from_random(random_bytes(SEED_BYTES))
    write_private_file(p, identity.seed.hex().encode() + b"\n")
    return identity


# Person records one sweep expires or wipes (the rest wait for the next sweep): bounds
# the work and the records one sweep signs.
SWEEP_BATCH = 256
# How often a node sweeps its registrations. Search hides an expired person at once by
# each node's clock; the sweep then deletes and wipes the record everywhere.
PERSON_SWEEP_S = 600.0

# Peers whose last contact is remembered (a city has tens of shelters).
MAX_PEER_CONTACTS = 1024
MAX_EQUIVOCATIONS_REMEMBERED = 1024
# A node that only finds peers by zeroconf waits at most this long for one after a start
# (a browse answers within seconds); one with configured peers waits
# ``[node] first_contact_wait_s`` (docs/durability.md).
DISCOVERY_CONTACT_WAIT_S = 15.0
# An own record that is not queued (``publish``: the registration sweep, redactions)
# waits at most this long for the first contact before it fails with "try again". What
# phones and staff make does not wait: it is queued durably (``publish_or_queue``).
PUBLISH_CONTACT_WAIT_S = 10.0
# Pending records that could not be signed (a full disk, a resync hold) are tried again
# this often.
PENDING_RETRY_S = 5.0


def first_contact_wait_s(config: Config) -> float:
    """How long own signing waits after a start for a peer to say which numbers this node
    has already used: not at all without any peer to wait for."""
    node = config.node
    if node.first_contact_wait_s <= 0:
        return 0.0
    if node.hub_url or node.peers or config.radio:
        return float(node.first_contact_wait_s)
    host = config.peer_listen.rpartition(":")[0].strip("[]")
    if node.discovery and not listen_is_loopback(host):
        return min(float(node.first_contact_wait_s), DISCOVERY_CONTACT_WAIT_S)
    return 0.0


@dataclass(frozen=True, slots=True)
class PeerContact:
    key: bytes
    shelter: str
    last_ms: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: tuple[Record, ...]
    duplicates: int
    rejected: tuple[tuple[bytes, str], ...]  # (origin or b"", reason)


class Node:
    """A running node's state. Create with ``await Node.open(config, wall_ms)``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        identity: Identity,
        trust: TrustPolicy,
        clock: HybridClock,
        wall_ms: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.identity = identity
        self.trust = trust
        self.clock = clock
        self.wallclock = WallClock(wall_ms, floor_ms=wall_ms_of(clock.last))
        self.wall_ms: Callable[[], int] = self.wallclock.now
        self.heads: dict[bytes, Record] = {}
        self.generation = 0
        self.record_count = 0
        self.last_sync_ms: int | None = None
        self.enrolment: Record | None = None
        self.peers: dict[bytes, PeerContact] = {}
        # Named reports of the node's links (radio ports …) for health and the TUI.
        self.link_reports: dict[str, Callable[[], dict[str, Any]]] = {}
        self.changes = 0  # every stored record counts; sync loops wait on it
        self._changed = asyncio.Condition()
        self._vector: VersionVector | None = None
        # Keys this node signs with (its own; a hub adds the authority key).
        self.signers: set[bytes] = {identity.public}
        store.add_own_origin(identity.public)
        # First contact after a start (docs/durability.md): streams whose own signing waits
        # until a peer's summary has said which numbers this node already used, or until
        # ``_contact_deadline`` (monotonic seconds) passes.
        self._monotonic = monotonic
        self._awaiting_contact: set[Stream] = set()
        self._contact_deadline = 0.0
        self._contact = asyncio.Condition()
        # Own records acknowledged during that wait, not signed yet (oldest first), the
        # newest of them per person, and search terms of those (by queue number).
        self.pending: list[PendingOwn] = []
        self._pending_ns: set[int] = set()
        self._pending_people: dict[str, PendingOwn] = {}
        self._pending_terms: dict[int, tuple[str, ...]] = {}
        self._signing_pending = asyncio.Lock()
        # Equivocations seen, (origin, seq): each is counted and logged once, not every
        # sync round that offers the same other record again.
        self._equivocations: set[tuple[bytes, int]] = set()

    @classmethod
    async def open(
        cls,
        config: Config,
        wall_ms: Callable[[], int],
        random_bytes: Callable[[int], bytes] = os.urandom,
        *,
        sign_at_once: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Node:
        """Open the node's store and keys.

        Unless ``sign_at_once`` (city hall: alerts are urgent), own signing first waits for
        a peer's summary, at most ``first_contact_wait_s(config)``: an old image of the
        card cannot be told from a reboot, only peers know the numbers it used since.
        """
        paths = DataPaths(Path(config.node.data_dir))
        paths.root.mkdir(parents=True, exist_ok=True)
        identity = load_or_create_identity(paths.node_key, random_bytes)
        # No ``has_history`` hold here: a provisioned bundle also brings its key before the
        # first database, and its first start must not wait for a peer (docs/durability.md).
        store = await Store.open(paths.database)
        authorities = frozenset(bytes.fromhex(k) for k in config.node.authority_keys)
        trust = TrustPolicy(authorities, own_key=identity.public, own_shelter=config.shelter.id)
        clock = HybridClock(await store.get_meta_int("hlc_last"))
        node = cls(config, store, identity, trust, clock, wall_ms, monotonic)
        wait_s = 0.0 if sign_at_once else first_contact_wait_s(config)
        if wait_s > 0:
            node._awaiting_contact = set(Stream)
            node._contact_deadline = monotonic() + wait_s
        for record in (await store.heads([Kind.ENROL, Kind.REVOKE])).values():
            trust.learn(record)
        await node._load_enrolment(paths.enrolment)
        node.heads = await store.heads(MEMORY_KINDS)
        node.record_count = await store.count()
        node._set_pending(await store.pending_own(identity.public))
        if node.pending and not node._awaiting_contact:
            await node.sign_pending()  # no peer to wait for
        log.info(
            "node %s for shelter %s: %d records",
            short_id(identity.public),
            config.shelter.id,
            node.record_count,
        )
        return node

    async def close(self) -> None:
        await self.store.close()

    async def _load_enrolment(self, path: Path) -> None:
        """Take in this node's enrolment record (from provisioning), if there is one."""
        wire = await asyncio.to_thread(_read_optional, path)
        if wire is None:
            return
        try:
            record = decode_record(wire)
        except ProtocolError as exc:
            raise StorageError(f"enrolment record {path} is unreadable: {exc}") from exc
        body = record.body
        if not isinstance(body, EnrolBody) or body.node_key != self.identity.public:
            raise StorageError(f"enrolment record {path} is not for this node's key")
        if body.shelter != self.config.shelter.id:
            raise StorageError(
                f"enrolment record {path} is for shelter {body.shelter}, "
                f"config says {self.config.shelter.id}"
            )
        result = await self.ingest([wire])
        if result.rejected:
            raise StorageError(f"enrolment record {path} refused: {result.rejected[0][1]}")
        self.enrolment = record

    @property
    def clock_certain(self) -> bool:
        """False while the wall clock has not been confirmed by city hall or a confirmed peer
        and does not look sane (DESIGN §9): pages then say times may be off."""
        return self.wallclock.certain

    def adopt_time(self, trusted_ms: int, source: bytes) -> None:
        """Take the time of city hall or of a peer whose time is confirmed."""
        jump = self.wallclock.adopt(trusted_ms)
        self.clock.adopt_wall_time(self.wall_ms())
        if jump:
            log.warning("clock set from %s: moved by %+.1f s", short_id(source), jump / 1000)
            self.generation += 1  # expiry on pages may change

    def note_sync(self, peer: bytes, enrolment: Record | None = None) -> None:
        """Remember a completed sync round with ``peer``."""
        self.store.end_resync_hold()  # our own records it held are back: sign again
        now = self.wall_ms()
        shelter = self.trust.shelter_of(peer) or ("city hall" if self.is_authority(peer) else "?")
        if enrolment is not None and isinstance(enrolment.body, EnrolBody):
            shelter = enrolment.body.shelter
        self.peers.pop(peer, None)
        self.peers[peer] = PeerContact(peer, shelter, now)
        while len(self.peers) > MAX_PEER_CONTACTS:
            self.peers.pop(next(iter(self.peers)))
        self.last_sync_ms = now

    def add_signer(self, key: bytes) -> None:
        """Another key this node signs with (a hub's authority key)."""
        self.signers.add(key)
        self.store.add_own_origin(key)

    def awaiting_contact(self, stream: Stream) -> bool:
        """True while own records of ``stream`` wait for the first peer contact."""
        if not self._awaiting_contact:
            return False
        if self._monotonic() >= self._contact_deadline:
            log.warning(
                "no peer reached since the start: signing own records without knowing"
                " whether an older image of this card used their numbers"
            )
            self._awaiting_contact.clear()
            return False
        return stream in self._awaiting_contact

    def contact_report(self) -> dict[str, Any]:
        """For health: which streams still wait for a first contact, how long at most, and
        how many acknowledged records wait to be signed."""
        waiting = sorted(s.name.lower() for s in Stream if self.awaiting_contact(s))
        left = max(0.0, self._contact_deadline - self._monotonic()) if waiting else 0.0
        return {"waiting": waiting, "left_s": round(left, 1), "queued": len(self.pending)}

    async def learn_own_heads(self, event: PeerSummarized) -> None:
        """A peer's summary is in: never sign at or below its heads for our keys (a moved
        floor is a restored card, logged and shown to staff by the store), and stop waiting
        for first contact in the streams it covered."""
        now = self.wall_ms()
        for (origin, stream), seq in event.own_heads.items():
            if origin in self.signers:
                await self.store.raise_seq_floor(origin, stream, seq, now)
        if self._awaiting_contact & event.streams:
            self._awaiting_contact -= event.streams
            async with self._contact:
                self._contact.notify_all()
        if self.pending:
            await self.sign_pending()

    async def publish_or_queue(self, body: AnyBody) -> Record | PendingOwn:
        """An own record made by a phone or by staff: signed now (the record), or, while
        its stream waits for the first peer contact, stored durably as pending (the queue
        item) and signed in order once a peer has spoken or the bound passed. Either way
        it is on disk when this returns. A person record signed now also wipes what it
        supersedes (``publish_person``); one signed later does so then."""
        if not self.awaiting_contact(STREAM_OF[body.KIND]):
            if isinstance(body, PersonBody):
                return await self.publish_person(body)
            return await self.publish(body)
        item = await self.store.queue_own(self.identity.public, body, self.wall_ms())
        self._add_pending(item)
        log.info(
            "%s queued until a peer has answered (%d waiting)",
            body.KIND.name.lower(),
            len(self.pending),
        )
        return item

    def _set_pending(self, items: list[PendingOwn]) -> None:
        """Take the queue as the store holds it (at start, after signing or dropping)."""
        self.pending = items
        self._pending_ns = {item.n for item in items}
        self._pending_people = {
            item.body.person_id: item for item in items if isinstance(item.body, PersonBody)
        }
        live = {item.n for item in self._pending_people.values()}
        self._pending_terms = {n: t for n, t in self._pending_terms.items() if n in live}
        self.generation += 1

    def _add_pending(self, item: PendingOwn) -> None:
        """One newly queued record; a reload of the queue since its commit may hold it."""
        if item.n in self._pending_ns:
            return
        self.pending.append(item)
        self._pending_ns.add(item.n)
        if isinstance(item.body, PersonBody):
            self._pending_people[item.body.person_id] = item
        self.generation += 1

    def own_status(self) -> tuple[StatusBody, int] | None:
        """This node's latest status and its time (ms): one staff entered during the
        first-contact wait (queued), else the signed head."""
        for item in reversed(self.pending):
            if isinstance(item.body, StatusBody):
                return item.body, item.wall_ms
        record = self.heads.get(b"S" + self.identity.public)
        if record is None or not isinstance(record.body, StatusBody):
            return None
        return record.body, wall_ms_of(record.hlc)

    def pending_person(self, person_id: str) -> PendingOwn | None:
        """The newest queued record of a person (registration, correction or deletion)."""
        return self._pending_people.get(person_id)

    def search_pending(self, query: NameQuery, limit: int, now_ms: int) -> list[PublicPerson]:
        """Queued registrations a search for ``query`` finds, newest first: listed and
        unexpired by the same rules as the store's index (``model.names.matches``)."""
        out: list[PublicPerson] = []
        for item in sorted(self._pending_people.values(), key=lambda i: -i.n):
            body = item.body
            assert isinstance(body, PersonBody)
            view = listing_of(body, item.wall_ms)
            if view is None or expiry_from(body, item.wall_ms) <= now_ms:
                continue
            terms = self._pending_terms.get(item.n)
            if terms is None:
                terms = search_terms(
                    body.full_name, body.family_name, body.given_name, body.alternate_names
                )
                self._pending_terms[item.n] = terms
            if matches(query, terms):
                out.append(view)
                if len(out) >= limit:
                    break
        return out

    async def search_persons(self, query: NameQuery, limit: int) -> list[tuple[PublicPerson, bool]]:
        """Listed people matching ``query`` with whether each is still queued: the queued
        state of a person comes first and hides its older signed one."""
        now = self.wall_ms()
        queued = self.search_pending(query, limit, now)
        found = await self.store.search_persons(query, limit, now)
        out = [(p, True) for p in queued]
        out += [(p, False) for p in found if p.person_id not in self._pending_people]
        return out[:limit]

    async def delete_person(self, person_id: str) -> Record | PendingOwn | None:
        """Delete a registration of this node: its queued records are dropped unsent,
        and a signed one gets a tombstone (signed or queued like any own record)."""
        async with self._signing_pending:  # not signed under our feet meanwhile
            dropped = [
                item.n
                for item in self.pending
                if isinstance(item.body, PersonBody) and item.body.person_id == person_id
            ]
            if dropped:
                await self.store.drop_pending(dropped)
                self._set_pending(await self.store.pending_own(self.identity.public))
                log.info("queued registration deleted before it was sent")
        current = await self.store.get_person(person_id)
        if current is None or not isinstance(current.body, PersonBody) or current.body.deleted:
            return None
        return await self.publish_or_queue(tombstone(current.body))

    async def sign_pending(self) -> list[Record]:
        """Sign the pending records whose streams no longer wait, in order; then wipe
        what the signed person records superseded, as ``publish_person`` does."""
        signed: list[Record] = []
        async with self._signing_pending:
            streams = [s for s in Stream if not self.awaiting_contact(s)]
            while self.pending:
                batch = await self.store.sign_pending(
                    self.identity, self.clock, self.wall_ms(), streams
                )
                if not batch:
                    break
                signed.extend(batch)
                self._fold_in(batch)
                self._set_pending(await self.store.pending_own(self.identity.public))
        if signed:
            log.info("signed %d queued records", len(signed))
            await self._notify()
        for record in signed:
            if isinstance(record.body, PersonBody):
                # after the lock: the redaction is an own record too (``publish_as``);
                # a crash before it leaves the work to the next sweep
                reason = RedactReason.DELETED if record.body.deleted else RedactReason.SUPERSEDED
                try:
                    await self.redact_superseded(reason=reason, person_id=record.body.person_id)
                except StorageError as exc:  # signed and stored; the wipe can wait
                    log.warning("superseded registration left to the next sweep: %s", exc)
        return signed

    async def sign_pending_when_due(self) -> None:
        """Service job: once the first contact came or the bound passed, sign what was
        queued meanwhile (and retry while a full disk or a resync hold refuses it)."""
        while any(self.awaiting_contact(s) for s in Stream):
            left = max(0.05, self._contact_deadline - self._monotonic())
            async with self._contact:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._contact.wait(), left)
        while True:
            try:
                await self.sign_pending()
            except StorageError as exc:
                log.warning("queued records not signed yet: %s", exc)
            if not self.pending:
                return
            await asyncio.sleep(PENDING_RETRY_S)

    async def _await_contact(self, stream: Stream) -> None:
        if not self.awaiting_contact(stream):
            return
        wait_s = min(PUBLISH_CONTACT_WAIT_S, self._contact_deadline - self._monotonic())
        async with self._contact:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._contact.wait_for(lambda: not self.awaiting_contact(stream)), wait_s
                )
        if self.awaiting_contact(stream):
            raise StorageError("waiting for a peer after the start: try again soon")

    async def wait_for_change(self, seen: int, wait_s: float) -> int:
        """Wait until ``changes`` differs from ``seen`` or ``wait_s`` passes."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.changes != seen), wait_s)
        return self.changes

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def have(self) -> VersionVector:
        """What this node holds, as a sync summary (revoked origins left out)."""
        if self._vector is None:
            heads = await self.store.version_vector()
            self._vector = VersionVector(heads).without_origins(self.trust.revoked)
        return self._vector

    async def ingest_batch(self, wires: Sequence[bytes]) -> tuple[Record, ...]:
        """Validate a batch from a sync peer (``sync.accept_batch``) and commit it durably."""
        now = self.wall_ms()
        result = accept_batch(wires, self.trust, await self.have())
        by_origin: dict[bytes, str] = {}
        for rejection in result.rejected:
            by_origin.setdefault(rejection.origin or b"", rejection.reason)
        for origin, reason in by_origin.items():
            if await self.store.note_rejection(origin, reason, now):
                log.warning("rejected record from %s: %s", short_id(origin) or "?", reason)
        if not result.accepted and not result.placeholders:
            return ()
        results = await self.store.append_records(result.accepted, now, result.placeholders)
        await self._note_equivocations(results, now)
        if result.placeholders:
            self._vector = None
            self.changes += 1
            self.record_count += len(result.placeholders)
        stored = tuple(r.record for r in results if r.stored)
        for record in result.accepted:
            self.clock.observe(record.hlc, now)
        self._fold_in(stored)
        if stored or result.placeholders:  # placeholders are news for other peers too
            await self._notify()
        return stored

    async def _note_equivocations(self, results: Sequence[AppendResult], now: int) -> None:
        """A second record at a number its signer already used (a restored card, or a
        stolen key) is not stored; it is counted with the origin's rejections, which staff
        see, and logged, once per (origin, number)."""
        for r in results:
            origin, seq = r.record.origin, r.record.seq
            if not r.conflict or (origin, seq) in self._equivocations:
                continue
            if len(self._equivocations) >= MAX_EQUIVOCATIONS_REMEMBERED:
                self._equivocations.clear()
            self._equivocations.add((origin, seq))
            await self.store.note_rejection(origin, f"equivocation at seq {seq}", now)
            log.warning("equivocation by %s at seq %d", short_id(origin), seq)

    def _fold_in(self, records: Iterable[Record]) -> None:
        changed = False
        for record in records:
            self._vector = None
            self.changes += 1
            self.record_count += 1
            if record.kind in (Kind.ENROL, Kind.REVOKE):
                self.trust.learn(record)
            if record.kind not in MEMORY_KINDS:
                continue
            key = entity_key(record)
            current = self.heads.get(key)
            if current is None or newer(record, current):
                self.heads[key] = record
                changed = True
        if changed:
            self.generation += 1

    async def publish(self, body: AnyBody) -> Record:
        """Sign ``body`` as this node and store it durably; returns once committed."""
        return await self.publish_as(self.identity, body)

    async def publish_as(self, signer: Identity, body: AnyBody) -> Record:
        """Sign ``body`` with ``signer`` (this node, or the hub's authority key) and store it.

        Right after a start this first waits (bounded) for a peer's summary; see ``open``.
        """
        await self._await_contact(STREAM_OF[body.KIND])
        if self.pending and signer is self.identity:
            await self.sign_pending()  # what was acknowledged first is numbered first
        record = await self.store.append_own(signer, body, self.clock, self.wall_ms())
        self._fold_in([record])
        await self._notify()
        return record

    # -- safety registrations: correction, deletion and expiry (docs/anpi.md) -------------

    async def publish_person(
        self, body: PersonBody, signer: Identity | None = None, reason: RedactReason | None = None
    ) -> Record:
        """Publish a person record (new, corrected, moved or deleted) and wipe the records
        of that person it supersedes, wherever they are held: those of ``signer``, or of
        any origin when ``signer`` is city hall (``model.redaction``)."""
        signer = signer or self.identity
        record = await self.publish_as(signer, body)
        if reason is None:
            reason = RedactReason.DELETED if body.deleted else RedactReason.SUPERSEDED
        await self.redact_superseded(signer, reason, person_id=body.person_id)
        return record

    async def redact_superseded(
        self,
        signer: Identity | None = None,
        reason: RedactReason = RedactReason.SUPERSEDED,
        *,
        person_id: str | None = None,
        limit: int = SWEEP_BATCH,
    ) -> list[Record]:
        """Sign redactions for what ``signer`` may wipe (its own records, or any origin's
        when it is city hall): superseded person records, and the notes about deleted
        people; returns the redaction records."""
        signer = signer or self.identity
        origin = None if self.is_authority(signer.public) else signer.public
        superseded = await self.store.superseded_persons(origin, limit, person_id)
        notes = await self.store.notes_of_deleted(origin, limit, person_id)
        return [
            *await self._redact(signer, superseded, reason),
            *await self._redact(signer, notes, RedactReason.DELETED),
        ]

    async def _redact(
        self, signer: Identity, found: Sequence[Target], reason: RedactReason
    ) -> list[Record]:
        by_origin: dict[bytes, list[Target]] = {}
        for target in found:
            by_origin.setdefault(target.origin, []).append(target)
        out = []
        for target_origin, group in by_origin.items():
            for i in range(0, len(group), MAX_REDACT_TARGETS):
                chunk = group[i : i + MAX_REDACT_TARGETS]
                body = RedactBody(
                    targets=tuple((t.seq, t.record_id) for t in chunk),
                    origin=b"" if target_origin == signer.public else target_origin,
                    reason=reason,
                )
                out.append(await self.publish_as(signer, body))
        return out

    async def expire_persons(self, signer: Identity | None = None) -> list[Record]:
        """Delete (with a tombstone) and wipe the people past their PFIF expiry whose
        current record is ``signer``'s, or anyone's when ``signer`` is city hall."""
        signer = signer or self.identity
        origin = None if self.is_authority(signer.public) else signer.public
        out = []
        for current in await self.store.expired_persons(self.wall_ms(), origin, SWEEP_BATCH):
            assert isinstance(current.body, PersonBody)
            body = replace(tombstone(current.body), expiry_ms=effective_expiry_ms(current))
            out.append(await self.publish_person(body, signer, RedactReason.EXPIRED))
        return out

    async def sweep_persons(self, signer: Identity | None = None) -> int:
        """One sweep: expire, then wipe what corrections left behind. Returns how many
        people it deleted plus how many further redaction records it signed."""
        expired = await self.expire_persons(signer)
        redactions = await self.redact_superseded(signer)
        return len(expired) + len(redactions)

    async def sweep_loop(
        self, signer: Identity | None = None, interval_s: float = PERSON_SWEEP_S
    ) -> None:
        """``sweep_persons`` every ``interval_s`` (a service job)."""
        while True:
            try:
                if not self.store.resync_hold_active:
                    signed = await self.sweep_persons(signer)
                    if signed:
                        log.info("registrations: %d expired or wiped", signed)
            except (StorageError, ProtocolError) as exc:  # the next sweep tries again
                log.warning("registration sweep failed: %s", exc)
            await asyncio.sleep(interval_s)

    async def ingest(self, wires: Sequence[bytes]) -> IngestResult:
        """Verify and durably store records from a peer or a file.

        Bad records are counted per origin and logged once per origin; nothing but valid,
        trusted records is stored.
        """
        now = self.wall_ms()
        accepted: list[Record] = []
        rejected: list[tuple[bytes, str]] = []
        for wire in wires:
            try:
                record = decode_record(wire)
                if record.kind in (Kind.ENROL, Kind.REVOKE):
                    self.trust.check(record)
                    self.trust.learn(record)  # later records in this batch may depend on it
                else:
                    self.trust.check(record)
            except (ProtocolError, TrustError) as exc:
                origin = _origin_hint(wire)
                rejected.append((origin, str(exc)))
                if await self.store.note_rejection(origin, str(exc), now):
                    log.warning("rejected record from %s: %s", short_id(origin) or "?", exc)
                continue
            self.clock.observe(record.hlc, now)
            accepted.append(record)
        results = await self.store.append_records(accepted, now) if accepted else []
        stored = tuple(r.record for r in results if r.stored)
        await self._note_equivocations(results, now)
        self._fold_in(stored)
        if stored:
            await self._notify()
        return IngestResult(stored, sum(1 for r in results if not r.stored), tuple(rejected))

    def is_authority(self, key: bytes) -> bool:
        return self.trust.is_authority(key)


def _read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _origin_hint(wire: bytes) -> bytes:
    """Best-effort origin of an unparseable record, for per-origin rejection counts."""
    # Canonical layout: 0x88 (array of 8), 0x01 (v=1), 0x58 0x20 (bytes, 32), origin…
    if len(wire) >= 36 and wire[:4] == b"\x88\x01\x58\x20":
        return wire[4:36]
    return b""
