"""The hub's admin endpoints: fleet overview, issuing alerts and notices, enrolment."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from aiohttp import web

from shelterkit.admin.api import read_json
from shelterkit.cap import MAX_CAP_BYTES
from shelterkit.errors import InputError
from shelterkit.hub.pfif import MAX_PFIF_BYTES, export_pfif, import_pfif
from shelterkit.hub.reports import shelter_statuses, status_csv, status_json
from shelterkit.hub.service import Hub
from shelterkit.model.fields import checked_body
from shelterkit.model.kinds import (
    AlertBody,
    Certainty,
    Kind,
    NoticeBody,
    Severity,
    StatusBody,
    Urgency,
)
from shelterkit.model.record import Record

HUB_KEY = web.AppKey("hub", Hub)
# PFIF person_record_id domain of this repository (PFIF 1.4 §2.3: "domain/unique-id").
PFIF_DOMAIN = "shelterkit.nasukarasuyama.local"
# An alert without an expiry stays in force for a day (CAP allows none; a forgotten
# warning on a wall for weeks is worse than one that has to be renewed).
DEFAULT_ALERT_TTL_S = 24 * 3600
MAX_ALERT_TTL_S = 30 * 24 * 3600
NEED_NAMES = ("water", "food", "medicine", "blankets", "power")


def _lang_map(value: Any, field: str, *, required: bool = False) -> dict[str, str]:
    if value is None or value == "":
        if required:
            raise InputError("missing", field, f"{field} is required")
        return {}
    if isinstance(value, str):
        return {"ja": value}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise InputError("invalid", field, f"{field}: text, or an object of language → text")


def _enum(cls: Any, value: Any, field: str, default: Any) -> Any:
    if value is None:
        return default
    try:
        return cls[str(value).upper()]
    except KeyError:
        names = ", ".join(m.name.lower() for m in cls)
        raise InputError("invalid", field, f"{field}: one of {names}") from None


def alert_from_json(data: dict[str, Any], now_ms: int, authority_hex: str) -> AlertBody:
    ttl = data.get("expires_in_s", DEFAULT_ALERT_TTL_S)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= MAX_ALERT_TTL_S:
        raise InputError("invalid", "expires_in_s", f"expires_in_s: 60 to {MAX_ALERT_TTL_S}")
    targets = data.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise InputError("invalid", "targets", "targets: a list of shelter ids")
    identifier = data.get("identifier") or f"urn:shelterkit:{authority_hex[:12]}:{now_ms}"
    body = AlertBody(
        identifier=str(identifier),
        headline=_lang_map(data.get("headline"), "headline", required=True),
        description=_lang_map(data.get("description"), "description"),
        instruction=_lang_map(data.get("instruction"), "instruction"),
        event=_lang_map(data.get("event"), "event"),
        severity=_enum(Severity, data.get("severity"), "severity", Severity.SEVERE),
        urgency=_enum(Urgency, data.get("urgency"), "urgency", Urgency.IMMEDIATE),
        certainty=_enum(Certainty, data.get("certainty"), "certainty", Certainty.LIKELY),
        sent_ms=now_ms,
        expires_ms=now_ms + ttl * 1000,
        sender_name=str(data.get("sender_name", "")),
        targets=tuple(targets),
    )
    return checked_body(body)


def record_json(record: Record) -> dict[str, Any]:
    return {
        "id": record.id.hex(),
        "origin": record.origin.hex(),
        "seq": record.seq,
        "kind": record.kind.name.lower(),
        "wire": base64.b64encode(record.wire).decode(),
    }


async def post_alert(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    data = await read_json(request)
    body = alert_from_json(data, hub.node.wall_ms(), hub.authority.public.hex())
    record = await hub.issue_alert(body)
    return web.json_response({"identifier": body.identifier, **record_json(record)}, status=201)


async def post_notice(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    data = await read_json(request)
    now = hub.node.wall_ms()
    body = checked_body(
        NoticeBody(
            notice_id=str(data.get("notice_id") or f"n{now}"),
            title=_lang_map(data.get("title"), "title", required=True),
            text=_lang_map(data.get("text"), "text"),
            shelter="",
        )
    )
    record = await hub.issue_notice(body)
    return web.json_response(record_json(record), status=201)


async def post_enrol(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    data = await read_json(request)
    try:
        key = bytes.fromhex(str(data.get("node_key", "")))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise InputError("invalid", "node_key", "node_key: 64 hex digits")
    shelter = str(data.get("shelter", ""))
    if not shelter:
        raise InputError("missing", "shelter", "shelter is required")
    record = await hub.enrol(key, shelter, str(data.get("name", "")))
    return web.json_response(record_json(record), status=201)


async def get_fleet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    rows = []
    for view in await hub.fleet():
        row = dataclasses.asdict(view)
        # The needs and links staff reported in the shelter's latest status record.
        head = hub.node.heads.get(b"S" + bytes.fromhex(view.node))
        status = head.body if head is not None else None
        if isinstance(status, StatusBody):
            row["needs"] = {n: getattr(status, f"need_{n}").name.lower() for n in NEED_NAMES}
            row["households"] = status.households
            row["needs_care"] = status.needs_care
            row["links"] = status.links
        rows.append(row)
    return web.json_response({"shelters": rows, "now_ms": hub.node.wall_ms()})


async def preview_alert(request: web.Request) -> web.StreamResponse:
    """Check an alert as ``POST /api/alerts`` would, without signing or issuing it."""
    hub = request.app[HUB_KEY]
    data = await read_json(request)
    body = alert_from_json(data, hub.node.wall_ms(), hub.authority.public.hex())
    preview = {
        "identifier": body.identifier,
        "headline": body.headline,
        "description": body.description,
        "instruction": body.instruction,
        "event": body.event,
        "severity": body.severity.name.lower(),
        "urgency": body.urgency.name.lower(),
        "certainty": body.certainty.name.lower(),
        "sent_ms": body.sent_ms,
        "expires_ms": body.expires_ms,
        "targets": list(body.targets),
    }
    return web.json_response(preview)


async def post_cap(request: web.Request) -> web.StreamResponse:
    """Import one CAP 1.2 alert (XML body): validated, mapped, signed as the authority."""
    hub = request.app[HUB_KEY]
    if request.content_length is not None and request.content_length > MAX_CAP_BYTES:
        raise InputError("too_large", detail=f"CAP files are limited to {MAX_CAP_BYTES} bytes")
    xml = await request.content.read(MAX_CAP_BYTES + 1)
    if len(xml) > MAX_CAP_BYTES:
        raise InputError("too_large", detail=f"CAP files are limited to {MAX_CAP_BYTES} bytes")
    done = await hub.import_cap(xml)
    alert = {"identifier": done.identifier, "imported": done.new, **record_json(done.record)}
    return web.json_response({"alerts": [alert]}, status=201 if done.new else 200)


async def get_status_json(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    rows = shelter_statuses(hub.node.heads | await hub.node.store.heads([Kind.ENROL]))
    return web.json_response(status_json(rows, hub.node.wall_ms()))


async def get_status_csv(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    rows = shelter_statuses(hub.node.heads | await hub.node.store.heads([Kind.ENROL]))
    return web.Response(
        text=status_csv(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="shelters.csv"'},
    )


async def get_pfif(request: web.Request) -> web.StreamResponse:
    """PFIF 1.4 export of everyone listed publicly (never contact details)."""
    hub = request.app[HUB_KEY]
    records = (await hub.node.store.heads([Kind.PERSON, Kind.NOTE])).values()
    return web.Response(
        body=export_pfif(list(records), domain=PFIF_DOMAIN, now_ms=hub.node.wall_ms()),
        content_type="application/xml",
    )


async def post_pfif(request: web.Request) -> web.StreamResponse:
    """PFIF 1.4 import: every person and note becomes a record signed by city hall."""
    hub = request.app[HUB_KEY]
    data = await request.content.read(MAX_PFIF_BYTES + 1)
    parsed = import_pfif(data, domain=PFIF_DOMAIN)
    for person in parsed.persons:  # a newer state wipes what it supersedes, any origin
        await hub.node.publish_person(person, hub.authority)
    for note in parsed.notes:
        await hub.node.publish_as(hub.authority, note)
    return web.json_response(
        {"persons": len(parsed.persons), "notes": len(parsed.notes)}, status=201
    )


def install_hub_api(app: web.Application, hub: Hub) -> None:
    app[HUB_KEY] = hub
    app.router.add_get("/api/fleet", get_fleet)
    app.router.add_post("/api/alerts", post_alert)
    app.router.add_post("/api/alerts/cap", post_cap)
    app.router.add_get("/api/status.json", get_status_json)
    app.router.add_get("/api/status.csv", get_status_csv)
    app.router.add_get("/api/pfif", get_pfif)
    app.router.add_post("/api/pfif", post_pfif)
    app.router.add_post("/api/alerts/preview", preview_alert)
    app.router.add_post("/api/notices", post_notice)
    app.router.add_post("/api/enrol", post_enrol)
