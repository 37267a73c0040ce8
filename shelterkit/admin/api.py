"""The authenticated JSON API for staff tools (TUI, CLI) on a node or the hub.

Served on the peer/staff listener only, never on the evacuee portal. Every request needs
``Authorization: Bearer <token>`` (``admin.tokens``); failed attempts are rate-limited per
client address. Errors are JSON ``{"error": code, "detail": text}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shelterkit.admin.logring import LogRing
from shelterkit.admin.tokens import PROOF_NONCE_BYTES, check_token, proof_message
from shelterkit.errors import InputError, ProtocolError, StorageError
from shelterkit.model.hlc import wall_ms_of
from shelterkit.portal.guard import RateLimiter
from shelterkit.service.node import Node

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
PROOF_PATH = "/api/admin/proof"
# Failed logins: 10 at once per address, then one more every 6 s (brute force is slow).
AUTH_FAILURE_BURST = 10
AUTH_FAILURE_INTERVAL_S = 6
MAX_API_BODY_BYTES = 256 * 1024  # a CAP file with several languages fits easily

SECRET_KEY = web.AppKey("admin_secret", bytes)
NODE_KEY = web.AppKey("admin_node", Node)
FAILURES_KEY = web.AppKey("admin_failures", RateLimiter)
LOG_KEY = web.AppKey("admin_log", LogRing)

_STATUS = {"unauthorized": 401, "expired": 401, "rate_limited": 429, "not_found": 404}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(code: str, detail: str = "", status: int | None = None) -> web.Response:
    return web.json_response(
        {"error": code, "detail": detail}, status=status or _STATUS.get(code, 400)
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    if request.path == PROOF_PATH:
        return await handler(request)  # asked before any token is sent
    client = request.remote or ""
    failures = request.app[FAILURES_KEY]
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    try:
        own_key = request.app[NODE_KEY].identity.public
        check_token(request.app[SECRET_KEY], token, time.time(), own_key)
    except InputError as exc:
        wait = failures.take(client, time.monotonic())
        if wait > 0:
            return json_error("rate_limited", f"too many failed attempts; wait {wait:.0f} s")
        log.warning("admin API: %s credentials from %s", exc.code, client)
        detail = "token expired" if exc.code == "expired" else "missing or wrong token"
        return json_error(exc.code, detail)
    try:
        return await handler(request)
    except InputError as exc:  # the request's content, not its credentials
        status = {"too_large": 413, "not_found": 404, "rate_limited": 429, "forbidden": 403}
        status_code = status.get(exc.code, 400)
        return json_error(exc.code, exc.detail or str(exc), status_code)
    except ProtocolError as exc:
        return json_error("invalid", str(exc))
    except StorageError as exc:
        return json_error("unavailable", str(exc), 503)


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_API_BODY_BYTES:
        raise InputError("too_large")
    raw = await request.content.read(MAX_API_BODY_BYTES + 1)
    if len(raw) > MAX_API_BODY_BYTES:
        raise InputError("too_large")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("bad_json", detail=str(exc)) from None
    if not isinstance(value, dict):
        raise InputError("bad_json", detail="expected a JSON object")
    return value


async def status(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    return web.json_response(
        {
            "node": node.identity.public.hex(),
            "shelter": node.config.shelter.id,
            "records": node.record_count,
            "last_sync": node.last_sync_ms,
            "enrolled": node.enrolment is not None,
            "peers": [
                {"node": p.key.hex(), "shelter": p.shelter, "last_ms": p.last_ms}
                for p in node.peers.values()
            ],
            "hlc_ms": wall_ms_of(node.clock.last),
        }
    )


async def recent_log(request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/log?since=SEQ``: the recent log lines newer than ``SEQ``, oldest first.

    ``last`` is the newest line's number (ask with ``since=last`` next time); ``lost`` says
    that lines after ``since`` were pushed out of the ring before they were asked for.
    """
    text = request.query.get("since", "0")
    if not text.isdigit() or len(text) > 18:
        raise InputError("invalid", "since", "since must be a line number (0 or more)")
    ring = request.app[LOG_KEY]
    lines, lost = ring.since(int(text))
    return web.json_response(
        {"lines": [line.as_json() for line in lines], "last": ring.last, "lost": lost}
    )


async def key_proof(request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/proof?nonce=<64 hex>``: this node's key and its signature over the
    nonce (``tokens.proof_message``), so a staff client that found it on a LAN knows it
    holds the key it advertises before sending it a token. Needs no token."""
    text = request.query.get("nonce", "")
    if len(text) != 2 * PROOF_NONCE_BYTES or any(c not in "0123456789abcdef" for c in text):
        return json_error("invalid", f"nonce: {2 * PROOF_NONCE_BYTES} lowercase hex digits")
    identity = request.app[NODE_KEY].identity
    signature = identity.sign(proof_message(bytes.fromhex(text)))
    return web.json_response({"node": identity.public.hex(), "signature": signature.hex()})


def install_admin_api(
    app: web.Application, node: Node, secret: bytes, log_ring: LogRing | None = None
) -> None:
    """Add authentication and the common endpoints to a staff-side application.

    ``log_ring`` is what ``GET /api/admin/log`` reads (an empty ring if none is given).
    """
    app[SECRET_KEY] = secret
    app[NODE_KEY] = node
    app[LOG_KEY] = log_ring if log_ring is not None else LogRing()
    app[FAILURES_KEY] = RateLimiter(AUTH_FAILURE_BURST, AUTH_FAILURE_INTERVAL_S)
    app.middlewares.append(auth_middleware)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/admin/log", recent_log)
    app.router.add_get(PROOF_PATH, key_proof)
