"""Sync over HTTP: one WebSocket per sync round (backhaul to the hub, and LAN peers).

Both ends first authenticate each other (``links.auth``), then run one ``SyncSession``
until both are done, then close. A new round opens a new connection: the vector is the
checkpoint, so nothing about a round needs to survive it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from shelterkit.errors import LinkError, ProtocolError, TrustError
from shelterkit.links.auth import (
    MAX_AUTH_MESSAGE_BYTES,
    NONCE_BYTES,
    Challenge,
    PeerTime,
    admit,
    check_proof,
    make_proof,
)
from shelterkit.model.keys import short_id
from shelterkit.model.kinds import EnrolBody
from shelterkit.model.record import Record
from shelterkit.model.trust import HUB_SHELTER_ID
from shelterkit.service.node import Node
from shelterkit.service.replica import drive
from shelterkit.sync import Role, SessionConfig, Start, SyncCompleted, SyncFailed, SyncSession
from shelterkit.sync.limits import MAX_MESSAGE_BYTES, SESSION_IDLE_TIMEOUT_S

log = logging.getLogger(__name__)

SYNC_PATH = "/sync"
# No single network wait lasts longer than this (a dead backhaul must not hang a round).
RECEIVE_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 10.0
# A whole round is abandoned after this long; the next round resumes from the vector.
ROUND_TIMEOUT_S = 300.0
MAX_WS_MESSAGE_BYTES = max(MAX_MESSAGE_BYTES * 4, MAX_AUTH_MESSAGE_BYTES)


@dataclass(frozen=True, slots=True)
class RoundResult:
    peer: bytes
    ok: bool
    records_received: int
    bytes_sent: int
    bytes_received: int
    detail: str = ""


class _Channel:
    """The two operations a sync round needs from a WebSocket, either side."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        receive: Callable[[float], Awaitable[bytes | None]],
    ) -> None:
        self.send = send
        self.receive = receive
        self.sent = 0
        self.received = 0

    async def put(self, data: bytes) -> None:
        if data:
            self.sent += len(data)
            await self.send(data)

    async def get(self, wait_s: float) -> bytes | None:
        data = await self.receive(wait_s)
        if data is not None:
            self.received += len(data)
        return data


def _ws_channel(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> _Channel:
    """A channel over either end of a WebSocket: binary messages only; anything else
    (close, text, error) ends the round."""

    async def receive(wait_s: float) -> bytes | None:
        try:
            msg = await ws.receive(timeout=wait_s)
        except TimeoutError:
            return None
        if msg.type is aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        return None

    return _Channel(ws.send_bytes, receive)


async def _round(node: Node, channel: _Channel, roles: Role, expected: bytes | None) -> RoundResult:
    own = Challenge(
        os.urandom(NONCE_BYTES),
        node.identity.public,
        node.enrolment.wire if node.enrolment is not None else b"",
    )
    await channel.put(own.encode())
    data = await channel.get(RECEIVE_TIMEOUT_S)
    if data is None:
        raise LinkError("peer closed before authenticating")
    peer = Challenge.decode(data)
    if expected is not None and peer.key != expected:
        raise TrustError("peer is not the expected node")
    enrolment = admit(peer, node.trust)
    await channel.put(make_proof(node.identity, peer, node.wall_ms(), node.clock_certain))
    data = await channel.get(RECEIVE_TIMEOUT_S)
    if data is None:
        raise LinkError("peer closed during authentication")
    peer_time = check_proof(data, own, peer)
    if enrolment is not None:
        await node.ingest([enrolment.wire])  # learn the peer before its records arrive
    if is_time_source(node, peer.key, enrolment, peer_time):
        node.adopt_time(peer_time.wall_ms, peer.key)

    loop = asyncio.get_running_loop()
    session = SyncSession(
        SessionConfig(
            node.identity.public,
            roles=roles,
            expected_peer=peer.key,
            own_keys=frozenset(node.signers),
        ),
        await node.have(),
        loop.time(),
    )
    before = node.record_count
    await channel.put(session.send(Start()) + session.data_to_send())
    while not session.finished:
        data = await channel.get(RECEIVE_TIMEOUT_S)
        if data is None:  # the peer went quiet or closed: let the session time out
            session.receive(b"", loop.time() + SESSION_IDLE_TIMEOUT_S)
            break
        events = session.receive(data, loop.time())
        await channel.put(await drive(node, session, events))
    outcome = session.outcome
    ok = isinstance(outcome, SyncCompleted)
    detail = outcome.detail if isinstance(outcome, SyncFailed) else ""
    if ok:
        node.note_sync(peer.key, enrolment)
    return RoundResult(
        peer.key, ok, node.record_count - before, channel.sent, channel.received, detail
    )


def is_time_source(node: Node, key: bytes, enrolment: Record | None, time: PeerTime) -> bool:
    """City hall's time is always taken; another peer's only if its time is confirmed and
    ours is not (so a node without backhaul learns the time through its neighbour)."""
    shelter = (
        enrolment.body.shelter if enrolment and isinstance(enrolment.body, EnrolBody) else None
    )
    if (shelter or node.trust.shelter_of(key)) == HUB_SHELTER_ID or node.is_authority(key):
        return True
    return time.certain and not node.wallclock.confirmed


def add_sync_route(app: web.Application, node: Node, roles: Role = Role.NODE) -> None:
    """Serve sync rounds on ``/sync`` of ``app`` (the peer-facing listener)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE_BYTES, autoping=True)
        await ws.prepare(request)

        channel = _ws_channel(ws)
        try:
            async with asyncio.timeout(ROUND_TIMEOUT_S):
                result = await _round(node, channel, roles, None)
            level = logging.INFO if result.records_received or not result.ok else logging.DEBUG
            log.log(
                level,
                "sync from %s: %s, %d new records",
                short_id(result.peer),
                "ok" if result.ok else result.detail,
                result.records_received,
            )
        except (ProtocolError, LinkError, TimeoutError) as exc:
            log.warning("sync from %s refused: %s", request.remote, exc)
        finally:
            await ws.close()
        return ws

    app.router.add_get(SYNC_PATH, handler)


async def sync_with(
    node: Node,
    url: str,
    *,
    session: aiohttp.ClientSession,
    roles: Role = Role.NODE,
    expected: bytes | None = None,
) -> RoundResult:
    """One sync round with the peer at ``url`` (``http://host:port/``)."""
    target = url.rstrip("/") + SYNC_PATH
    try:
        async with (
            asyncio.timeout(ROUND_TIMEOUT_S),
            session.ws_connect(
                target,
                max_msg_size=MAX_WS_MESSAGE_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            ) as ws,
        ):
            return await _round(node, _ws_channel(ws), roles, expected)
    except (aiohttp.ClientError, OSError) as exc:
        raise LinkError(f"cannot reach {url}: {exc}") from exc
    except TimeoutError as exc:
        raise LinkError(f"sync round with {url} timed out") from exc
