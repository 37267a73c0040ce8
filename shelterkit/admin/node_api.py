"""Staff endpoints of a node's admin API: health, board moderation, notices, status.

Mounted on the peer/staff listener next to ``admin.api`` (which authenticates every
``/api/`` request). Every staff action becomes a record signed by this node and stored
durably before the answer is sent (201), so it replicates like everything else; while the
node waits for its first peer contact after a start, the record is stored durably as
pending and signed once a peer has answered, and the answer is 202 with
``{"queued": true, "pending": n}`` (``Node.publish_or_queue``, docs/durability.md):

- who: the signing node, i.e. this shelter's staff. Tokens are per node, not per person,
  and no staff names go into records (they would travel city-wide and be kept forever).
- what and why: the body itself, and for moderation the required ``reason`` field.
- each action is also logged once at INFO level with the client address.

Endpoints (JSON; errors as in ``admin.api``):

- ``GET  /api/node``                           health, clock, storage, peers, links, radio
- ``GET  /api/board``                          recent posts with their hidden state
- ``POST /api/board/{post_id}/hide``           ``{"reason": text}`` → moderation record
- ``POST /api/board/{post_id}/restore``        ``{"reason": text}`` → moderation record
- ``GET  /api/shelter/notices``                this shelter's own notices, withdrawn too
- ``POST /api/shelter/notices``                ``{"title": {ja,en}, "text": {ja,en}}``
- ``POST /api/shelter/notices/{id}/withdraw``  → a withdrawing notice record
- ``GET  /api/shelter/status``                 the latest status record of this node
- ``POST /api/shelter/status``                 headcount and needs → status record
- ``GET  /api/anpi/search?q=NAME``             listed (consented) safety registrations
- ``POST /api/anpi/persons``                   staff entry for someone without a phone
- ``POST /api/anpi/persons/{id}``              correction: a newer record, same person
- ``POST /api/anpi/persons/{id}/consent``      ``{"public": false}`` withdraws consent

Safety registrations (docs/anpi.md) are entered exactly as the portal's form does
(``portal.safety.registration_from_form``, ``model.anpi.new_person``): what is not
consented to is sealed to city hall. So a node can correct or un-list only what it can
read: records it signed itself, while they are listed; a sealed record is corrected by
entering it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from shelterkit.admin.api import NODE_KEY, read_json
from shelterkit.errors import InputError
from shelterkit.model.anpi import (
    erase_code,
    format_code,
    listing_of,
    new_person_id,
)
from shelterkit.model.fields import checked_body
from shelterkit.model.fold import is_hidden
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import (
    RECORD_ID_BYTES,
    ModerationAction,
    ModerationBody,
    NeedLevel,
    NoticeBody,
    PersonBody,
    PostBody,
    StatusBody,
)
from shelterkit.model.names import query_keys
from shelterkit.model.record import Record
from shelterkit.model.text import check_text
from shelterkit.portal.safety import person_from_registration, registration_from_form
from shelterkit.service.node import Node
from shelterkit.storage.store import PendingOwn

log = logging.getLogger(__name__)

# The moderation queue shows this many recent posts (a shelter board, not an archive).
MAX_BOARD_ROWS = 200
# Own notices listed, newest first.
MAX_NOTICE_ROWS = 100
# A link counts as up while its last completed sync round is this recent (sync runs
# every few seconds while anything changes, DEFAULT sync_interval_s = 5).
LINK_UP_WITHIN_MS = 2 * 60 * 1000
# Status fields staff set; the rest (battery, clients, links) the node fills in.
NEED_FIELDS = ("water", "food", "medicine", "blankets", "power")
COUNT_FIELDS = ("headcount", "households", "needs_care")
MAX_COUNT = 100_000
# Safety search: results per query and query length, as on the portal (portal.safety).
MAX_ANPI_RESULTS = 20
MAX_ANPI_QUERY_CHARS = 60


def _lang_map(value: Any, field: str, *, required: bool = False) -> dict[str, str]:
    if isinstance(value, str):
        value = {"ja": value}
    if value is None:
        value = {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError("invalid", field, f"{field}: text, or an object of language → text")
    cleaned = {k: v.strip() for k, v in value.items() if v.strip()}
    if required and not cleaned:
        raise InputError("missing", field, f"{field} is required")
    return cleaned


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason", "")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("missing", "reason", "reason is required")
    return reason.strip()


def _record_ref(record: Record) -> dict[str, Any]:
    return {"id": record.id.hex(), "seq": record.seq, "time_ms": wall_ms_of(record.hlc)}


def _stored(stored: Record | PendingOwn, **fields: Any) -> web.Response:
    """The answer to a staff action: 201 with the signed record, or, while the node waits
    for its first peer contact, 202 with the queue number of the stored, unsigned one."""
    if isinstance(stored, PendingOwn):
        ref = {"pending": stored.n, "queued": True, "time_ms": stored.wall_ms}
        return web.json_response({**ref, **fields}, status=202)
    return web.json_response({**_record_ref(stored), **fields}, status=201)


def _node(request: web.Request) -> Node:
    return request.app[NODE_KEY]


def _db_bytes(node: Node) -> int:
    """The database with its WAL and shared-memory files, as the SD card sees it."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{node.store.path}{suffix}").st_size
    return total


def link_states(node: Node, now_ms: int) -> str:
    """``"http:up"``-style words for a status record (``StatusBody.links``)."""
    cfg = node.config.node
    if not cfg.hub_url and not cfg.peers:
        return ""
    last = node.last_sync_ms
    up = last is not None and now_ms - last <= LINK_UP_WITHIN_MS
    return "http:up" if up else "http:down"


async def get_node(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    now = node.wall_ms()
    shelter = node.config.shelter
    cfg = node.config.node
    links = [{"kind": "hub", "url": cfg.hub_url}] if cfg.hub_url else []
    links += [{"kind": "peer", "url": url} for url in cfg.peers]
    rejections = await node.store.rejections()
    return web.json_response(
        {
            "node": node.identity.public.hex(),
            "shelter": shelter.id,
            "name": {"ja": shelter.name_ja, "en": shelter.name_en},
            "enrolled": node.enrolment is not None,
            "records": node.record_count,
            "db_bytes": _db_bytes(node),
            "clock": {
                "wall_ms": now,
                "hlc_ms": wall_ms_of(node.clock.last),
                "certain": node.clock_certain,
            },
            "last_sync_ms": node.last_sync_ms,
            "links": links,
            "link_state": link_states(node, now),
            "peers": [
                {"node": p.key.hex(), "shelter": p.shelter, "last_ms": p.last_ms}
                for p in sorted(node.peers.values(), key=lambda p: -p.last_ms)
            ],
            "rejected_origins": len(rejections),
            # radio links: state, airtime against the region's budget, queue, neighbours
            "radio": [
                {"name": name, **report()}
                for name, report in sorted(getattr(node, "link_reports", {}).items())
            ],
        }
    )


def _moderation_of(node: Node, post_id: bytes) -> ModerationBody | None:
    record = node.heads.get(b"M" + post_id)
    body = record.body if record is not None else None
    return body if isinstance(body, ModerationBody) else None


async def get_board(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    posts = [r for r in node.heads.values() if isinstance(r.body, PostBody)]
    posts.sort(key=lambda r: r.sort_key, reverse=True)
    rows = []
    for record in posts[:MAX_BOARD_ROWS]:
        body = record.body
        assert isinstance(body, PostBody)
        mod = _moderation_of(node, record.id)
        rows.append(
            {
                "id": record.id.hex(),
                "time_ms": wall_ms_of(record.hlc),
                "category": body.category.name.lower(),
                "author": body.author,
                "text": body.text,
                "shelter": body.shelter or node.trust.shelter_of(record.origin) or "",
                "own": record.origin == node.identity.public,
                "hidden": is_hidden(node.heads, record.id),
                "reason": mod.reason if mod is not None else "",
            }
        )
    return web.json_response({"posts": rows, "now_ms": node.wall_ms()})


def _post_id(request: web.Request) -> bytes:
    try:
        post_id = bytes.fromhex(request.match_info["post_id"])
    except ValueError:
        post_id = b""
    if len(post_id) != RECORD_ID_BYTES:
        raise InputError("not_found", "post_id", "no such post")
    return post_id


async def _moderate(request: web.Request, action: ModerationAction) -> web.StreamResponse:
    node = _node(request)
    post_id = _post_id(request)
    target = next(
        (r for r in node.heads.values() if isinstance(r.body, PostBody) and r.id == post_id),
        None,
    )
    if target is None:
        raise InputError("not_found", "post_id", "no such post")
    if target.origin != node.identity.public:
        raise InputError("forbidden", "post_id", "only this shelter's own posts can be moderated")
    reason = _reason(await read_json(request))
    body = checked_body(ModerationBody(target=post_id, action=action, reason=reason))
    stored = await node.publish_or_queue(body)
    log.info(
        "staff at %s: %s post %s (%s)", request.remote, action.name.lower(), post_id.hex(), reason
    )
    hidden = is_hidden(node.heads, post_id)
    if isinstance(stored, PendingOwn):  # what it will be once signed
        hidden = action is ModerationAction.HIDE
    return _stored(stored, hidden=hidden)


async def hide_post(request: web.Request) -> web.StreamResponse:
    return await _moderate(request, ModerationAction.HIDE)


async def restore_post(request: web.Request) -> web.StreamResponse:
    return await _moderate(request, ModerationAction.RESTORE)


def _own_notices(node: Node) -> list[Record]:
    own = [
        r
        for r in node.heads.values()
        if isinstance(r.body, NoticeBody) and r.origin == node.identity.public
    ]
    own.sort(key=lambda r: r.sort_key, reverse=True)
    return own[:MAX_NOTICE_ROWS]


def _notice_json(record: Record) -> dict[str, Any]:
    body = record.body
    assert isinstance(body, NoticeBody)
    return {
        "notice_id": body.notice_id,
        "title": body.title,
        "text": body.text,
        "time_ms": wall_ms_of(record.hlc),
        "expires_ms": body.expires_ms,
        "withdrawn": body.withdrawn,
    }


async def get_notices(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    return web.json_response(
        {"notices": [_notice_json(r) for r in _own_notices(node)], "now_ms": node.wall_ms()}
    )


async def post_notice(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    data = await read_json(request)
    now = node.wall_ms()
    body = checked_body(
        NoticeBody(
            notice_id=f"n{now}",
            title=_lang_map(data.get("title"), "title", required=True),
            text=_lang_map(data.get("text"), "text"),
            shelter=node.config.shelter.id,
        )
    )
    stored = await node.publish_or_queue(body)
    log.info("staff at %s: notice %s issued", request.remote, body.notice_id)
    return _stored(stored, notice_id=body.notice_id)


async def withdraw_notice(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    notice_id = request.match_info["notice_id"]
    current = next(
        (r for r in _own_notices(node) if r.body.notice_id == notice_id),  # type: ignore[union-attr]
        None,
    )
    if current is None:
        raise InputError("not_found", "notice_id", "no such notice of this shelter")
    body = current.body
    assert isinstance(body, NoticeBody)
    stored = await node.publish_or_queue(dataclasses.replace(body, withdrawn=True))
    log.info("staff at %s: notice %s withdrawn", request.remote, notice_id)
    return _stored(stored)


def _current_status(node: Node) -> tuple[StatusBody | None, int | None]:
    current = node.own_status()
    return current if current is not None else (None, None)


def status_json(body: StatusBody | None) -> dict[str, Any]:
    b = body or StatusBody(shelter="")
    return {
        "headcount": b.headcount,
        "households": b.households,
        "needs_care": b.needs_care,
        "battery_pct": b.battery_pct,
        "clients": b.clients,
        "links": b.links,
        "needs": {name: getattr(b, f"need_{name}").name.lower() for name in NEED_FIELDS},
    }


async def get_status(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    body, time_ms = _current_status(node)
    return web.json_response(
        {
            "shelter": node.config.shelter.id,
            "status": status_json(body) if body is not None else None,
            "time_ms": time_ms,
        }
    )


def _count(data: dict[str, Any], field: str, default: int) -> int:
    value = data.get(field, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise InputError("invalid", field, f"{field}: a whole number from 0 to {MAX_COUNT}")
    return value


def _need(value: Any, field: str, default: NeedLevel) -> NeedLevel:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return NeedLevel(value)
        except ValueError:
            pass
    elif isinstance(value, str) and value.upper() in NeedLevel.__members__:
        return NeedLevel[value.upper()]
    names = ", ".join(m.name.lower() for m in NeedLevel)
    raise InputError("invalid", field, f"{field}: one of {names} (or 0 to 3)")


async def post_status(request: web.Request) -> web.StreamResponse:
    """Staff-entered counts and needs; fields not given keep their last value."""
    node = _node(request)
    data = await read_json(request)
    previous, _ = _current_status(node)
    prev = previous or StatusBody(shelter=node.config.shelter.id)
    needs = data.get("needs", {})
    if not isinstance(needs, dict) or not set(needs) <= set(NEED_FIELDS):
        raise InputError("invalid", "needs", f"needs: an object with {', '.join(NEED_FIELDS)}")
    fields: dict[str, Any] = {f: _count(data, f, getattr(prev, f)) for f in COUNT_FIELDS}
    for name in NEED_FIELDS:
        fields[f"need_{name}"] = _need(needs.get(name), name, getattr(prev, f"need_{name}"))
    body = checked_body(
        dataclasses.replace(
            prev,
            shelter=node.config.shelter.id,
            links=link_states(node, node.wall_ms()),
            **fields,
        )
    )
    stored = await node.publish_or_queue(body)
    log.info("staff at %s: status headcount %d", request.remote, body.headcount)
    return _stored(stored, status=status_json(body))


# -- safety registrations (anpi) ----------------------------------------------------------


def _person_json(body: PersonBody, time_ms: int, own: bool) -> dict[str, Any]:
    listed = listing_of(body, time_ms)
    return {
        "person_id": body.person_id,
        "public": body.public,
        "family_name": body.family_name,
        "given_name": body.given_name,
        "reading": body.alternate_names,
        "age": body.age,
        "birth_year": body.birth_year,
        "district": body.home_district,
        "shelter": body.shelter,
        "name": listed.name if listed is not None else "",
        "time_ms": time_ms,
        "own": own,
    }


async def search_persons(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    text = check_text(request.query.get("q", ""), "q", max_chars=MAX_ANPI_QUERY_CHARS)
    found = await node.search_persons(query_keys(text), MAX_ANPI_RESULTS)
    rows = []
    for person, waiting in found:
        queued = node.pending_person(person.person_id) if waiting else None
        if queued is not None:
            assert isinstance(queued.body, PersonBody)
            row = _person_json(queued.body, queued.wall_ms, own=True)
        else:
            record = await node.store.get_person(person.person_id)
            if record is None or not isinstance(record.body, PersonBody):
                continue
            own = record.origin == node.identity.public
            row = _person_json(record.body, wall_ms_of(record.hlc), own)
        rows.append({**row, "status": person.status.name.lower(), "waiting": waiting})
    return web.json_response({"persons": rows, "now_ms": node.wall_ms()})


def _registration(node: Node, data: dict[str, Any], person_id: str) -> PersonBody:
    """The portal's registration rules, applied to the staff form's JSON."""
    form = {k: data.get(k, "") for k in ("family", "given", "reading", "district", "contact")}
    form = {k: v if isinstance(v, str) else "" for k, v in form.items()}
    age = data.get("age", "")
    form["age"] = str(age) if isinstance(age, int | str) and not isinstance(age, bool) else "?"
    form["consent"] = "yes" if data.get("consent") is True else ""
    this_year = datetime.fromtimestamp(node.wall_ms() / 1000, tz=UTC).year
    reg = registration_from_form(form, this_year)
    shelter, keys = node.config.shelter.id, node.config.node.authority_keys
    return checked_body(person_from_registration(reg, person_id, shelter, keys))


async def add_person(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    body = _registration(node, await read_json(request), new_person_id(os.urandom(8)))
    stored = await node.publish_or_queue(body)
    log.info("staff at %s: safety registration %s entered", request.remote, body.person_id)
    # the code depends on the person id and this node's key only: given even if queued
    return _stored(
        stored,
        person_id=body.person_id,
        public=body.public,
        erase_code=format_code(erase_code(node.identity, body.person_id)),
    )


async def _own_person(node: Node, person_id: str) -> PersonBody:
    """The current state of a registration this node made: queued, or signed."""
    queued = node.pending_person(person_id)
    record = None if queued is not None else await node.store.get_person(person_id)
    body = queued.body if queued is not None else record.body if record is not None else None
    if not isinstance(body, PersonBody) or body.deleted:
        raise InputError("not_found", "person_id", "no such registration")
    if record is not None and record.origin != node.identity.public:
        raise InputError(
            "forbidden", "person_id", "only the shelter that entered a registration can change it"
        )
    return body


async def correct_person(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    person_id = request.match_info["person_id"]
    await _own_person(node, person_id)
    body = _registration(node, await read_json(request), person_id)
    # once signed, it wipes the uncorrected record everywhere
    stored = await node.publish_or_queue(body)
    log.info("staff at %s: safety registration %s corrected", request.remote, person_id)
    return _stored(stored, person_id=person_id, public=body.public)


async def set_consent(request: web.Request) -> web.StreamResponse:
    node = _node(request)
    person_id = request.match_info["person_id"]
    body = await _own_person(node, person_id)
    data = await read_json(request)
    if data.get("public") is not False:
        raise InputError(
            "invalid",
            "public",
            "only withdrawing consent is possible here; to list a person, enter them again",
        )
    if not body.public:
        return web.json_response({"person_id": person_id, "public": False})
    form = {
        "family": body.family_name,
        "given": body.given_name,
        "reading": body.alternate_names,
        "district": body.home_district,
        "age": body.age if body.age >= 0 else (body.birth_year or ""),
        "consent": False,
    }
    # A node cannot open what was sealed to city hall, so contact details given with the
    # listed record are not carried over; staff enter them again with a correction.
    # the listed record is wiped everywhere, not only superseded
    stored = await node.publish_or_queue(_registration(node, form, person_id))
    log.info("staff at %s: safety registration %s unlisted", request.remote, person_id)
    return _stored(stored, person_id=person_id, public=False)


def install_node_api(app: web.Application, node: Node) -> None:
    """Add the node's staff endpoints (``admin.api.install_admin_api`` must come first)."""
    assert app[NODE_KEY] is node
    app.router.add_get("/api/node", get_node)
    app.router.add_get("/api/board", get_board)
    app.router.add_post("/api/board/{post_id}/hide", hide_post)
    app.router.add_post("/api/board/{post_id}/restore", restore_post)
    app.router.add_get("/api/shelter/notices", get_notices)
    app.router.add_post("/api/shelter/notices", post_notice)
    app.router.add_post("/api/shelter/notices/{notice_id}/withdraw", withdraw_notice)
    app.router.add_get("/api/shelter/status", get_status)
    app.router.add_post("/api/shelter/status", post_status)
    app.router.add_get("/api/anpi/search", search_persons)
    app.router.add_post("/api/anpi/persons", add_person)
    app.router.add_post("/api/anpi/persons/{person_id}", correct_person)
    app.router.add_post("/api/anpi/persons/{person_id}/consent", set_consent)
