"""The node's store as a sync replica: answers a ``SyncSession``'s events.

This is the asynchronous counterpart of ``sync.memory.MemoryReplica.drive``: fetch the
ranges a peer asked for, validate and durably commit what it sent, and only then tell the
session (so an ACK means "on disk").
"""

from __future__ import annotations

from collections.abc import Sequence

from shelterkit.service.node import Node
from shelterkit.sync import (
    Event,
    PeerSummarized,
    RecordsReceived,
    RecordsRequested,
    RecordsStored,
    SendRecords,
    SeqRange,
    SyncSession,
)


async def wires_for(
    node: Node, ranges: Sequence[SeqRange], max_records: int, max_bytes: int
) -> list[bytes]:
    out: list[bytes] = []
    size = 0
    for r in ranges:
        # placeholders of redacted records travel in their slots (model.redaction)
        wires = await node.store.wires_range(
            r.origin, r.stream, r.first, r.last, max_records - len(out)
        )
        for wire in wires:
            if len(out) >= max_records or size + len(wire) > max_bytes:
                return out
            out.append(wire)
            size += len(wire)
        if len(out) >= max_records:
            break
    return out


async def drive(node: Node, session: SyncSession, events: Sequence[Event]) -> bytes:
    """Answer ``events``; return the bytes to send to the peer."""
    out: list[bytes] = []
    for event in events:
        if isinstance(event, PeerSummarized):
            await node.learn_own_heads(event)
        elif isinstance(event, RecordsRequested):
            wires = await wires_for(node, event.ranges, event.max_records, event.max_bytes)
            out.append(session.send(SendRecords(event.request, wires)))
        elif isinstance(event, RecordsReceived):
            await node.ingest_batch(event.records)
            out.append(session.send(RecordsStored(event.request, await node.have())))
    out.append(session.data_to_send())
    return b"".join(out)
