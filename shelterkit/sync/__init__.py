"""Sans-IO sync between replicas (DESIGN §5; wire format in docs/protocol.md).

Pure: standard library plus cbor2 and PyNaCl through ``shelterkit.model``; no I/O, no
clock, no randomness of its own (a test checks the imports). Link adapters drive a
``SyncSession`` with bytes, and a store answers its events.
"""

from shelterkit.sync.accept import BatchResult, Rejection, RejectionTally, accept_batch
from shelterkit.sync.messages import ByeReason, Role
from shelterkit.sync.session import (
    ALL_STREAMS,
    RADIO_STREAMS,
    Cancel,
    Command,
    Event,
    PeerGreeted,
    PeerStored,
    PeerSummarized,
    RecordsReceived,
    RecordsRequested,
    RecordsStored,
    SendRecords,
    SessionConfig,
    Start,
    SyncCompleted,
    SyncFailed,
    SyncSession,
)
from shelterkit.sync.states import State
from shelterkit.sync.vector import (
    EMPTY_VECTOR,
    SYNC_PRIORITY,
    SeqRange,
    VersionVector,
    priority_rank,
)

__all__ = [
    "ALL_STREAMS",
    "EMPTY_VECTOR",
    "RADIO_STREAMS",
    "SYNC_PRIORITY",
    "BatchResult",
    "ByeReason",
    "Cancel",
    "Command",
    "Event",
    "PeerGreeted",
    "PeerStored",
    "PeerSummarized",
    "RecordsReceived",
    "RecordsRequested",
    "RecordsStored",
    "Rejection",
    "RejectionTally",
    "Role",
    "SendRecords",
    "SeqRange",
    "SessionConfig",
    "Start",
    "State",
    "SyncCompleted",
    "SyncFailed",
    "SyncSession",
    "VersionVector",
    "accept_batch",
    "priority_rank",
]
