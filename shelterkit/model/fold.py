"""Folding records into the current state of entities (DESIGN §2).

Every record belongs to one entity, named by ``entity_key``. The current state of an
entity is its record with the greatest ``(hlc, origin)``, so the result does not depend
on the order in which records arrived. Views (active alerts, visible posts …) are pure
functions of the heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shelterkit.model.kinds import (
    AlertBody,
    AlertStatus,
    EnrolBody,
    Kind,
    ModerationAction,
    ModerationBody,
    MsgType,
    NoticeBody,
    PersonBody,
    PostBody,
    RevokeBody,
    StatusBody,
)
from shelterkit.model.record import Record


def entity_key(record: Record) -> bytes:
    """The entity a record describes; records with equal keys supersede one another."""
    body = record.body
    if isinstance(body, AlertBody):
        return b"A" + body.identifier.encode()
    if isinstance(body, NoticeBody):
        return b"N" + record.origin + body.notice_id.encode()
    if isinstance(body, ModerationBody):
        return b"M" + body.target
    if isinstance(body, StatusBody):
        return b"S" + record.origin
    if isinstance(body, EnrolBody | RevokeBody):
        return b"E" + body.node_key
    if isinstance(body, PersonBody):
        return b"P" + body.person_id.encode()
    return b"R" + record.id  # posts, notes and anything without identity of its own


def newer(a: Record, b: Record) -> bool:
    """True if ``a`` supersedes ``b`` (same entity)."""
    return a.sort_key > b.sort_key


def fold(records: Iterable[Record]) -> dict[bytes, Record]:
    """Heads of every entity in ``records``."""
    heads: dict[bytes, Record] = {}
    for record in records:
        key = entity_key(record)
        current = heads.get(key)
        if current is None or newer(record, current):
            heads[key] = record
    return heads


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    record: Record
    body: AlertBody
    expiry_uncertain: bool


def active_alerts(
    heads: Mapping[bytes, Record],
    now_ms: int,
    *,
    clock_certain: bool = True,
    shelter: str | None = None,
) -> list[ActiveAlert]:
    """Alerts in force at ``now_ms``: not cancelled, not superseded, not expired, and — when
    ``shelter`` is given — addressed to it (an alert with no targets is for everyone).

    Ordered by severity, then newest first. If the clock is not certain, expired alerts are
    still dropped (safer than showing stale warnings as current) but flagged.
    """
    alerts = [r for r in heads.values() if isinstance(r.body, AlertBody)]
    superseded: set[str] = set()
    for r in alerts:
        assert isinstance(r.body, AlertBody)
        if r.body.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
            superseded.update(r.body.references)
    out: list[ActiveAlert] = []
    for r in alerts:
        body = r.body
        assert isinstance(body, AlertBody)
        if body.identifier in superseded or body.msg_type is MsgType.CANCEL:
            continue
        if body.status not in (AlertStatus.ACTUAL, AlertStatus.EXERCISE):
            continue
        if body.expires_ms and body.expires_ms <= now_ms:
            continue
        if shelter is not None and body.targets and shelter not in body.targets:
            continue
        out.append(
            ActiveAlert(r, body, expiry_uncertain=not clock_certain and bool(body.expires_ms))
        )
    out.sort(key=lambda a: (a.body.severity, -a.record.hlc))
    return out


def visible_notices(heads: Mapping[bytes, Record], now_ms: int, shelter: str) -> list[Record]:
    """Notices for ``shelter`` or city-wide, not withdrawn or expired, newest first."""
    out = []
    for r in heads.values():
        body = r.body
        if not isinstance(body, NoticeBody) or body.withdrawn:
            continue
        if body.shelter and body.shelter != shelter:
            continue
        if body.expires_ms and body.expires_ms <= now_ms:
            continue
        out.append(r)
    out.sort(key=lambda r: r.sort_key, reverse=True)
    return out


def is_hidden(heads: Mapping[bytes, Record], post_id: bytes) -> bool:
    """A post is hidden while the newest moderation record about it says HIDE."""
    mod = heads.get(b"M" + post_id)
    return (
        mod is not None
        and isinstance(mod.body, ModerationBody)
        and mod.body.action is ModerationAction.HIDE
    )


def visible_posts(heads: Mapping[bytes, Record]) -> list[Record]:
    posts = [
        r for r in heads.values() if isinstance(r.body, PostBody) and not is_hidden(heads, r.id)
    ]
    posts.sort(key=lambda r: r.sort_key, reverse=True)
    return posts


__all__ = [
    "ActiveAlert",
    "Kind",
    "active_alerts",
    "entity_key",
    "fold",
    "is_hidden",
    "newer",
    "visible_notices",
    "visible_posts",
]
