"""The sync session's state machine: every state, every trigger, one table.

Both peers run the same machine (the protocol is symmetric: each side pulls what it lacks
and serves what the other lacks). A trigger is a message sent or received, or one of two
conditions the session detects. Anything not in the table is a protocol error; from every
state except DONE and FAILED, ``FAIL`` (an error, a timeout, or a received error BYE) leads
to FAILED. In DONE and FAILED all input is discarded. docs/protocol.md shows this table and
a test checks that the two agree.
"""

from __future__ import annotations

import enum
from typing import Final


class State(enum.Enum):
    START = "START"  # nothing exchanged yet
    HELLO_SENT = "HELLO_SENT"  # our HELLO is out, the peer's has not arrived
    HELLO_RECEIVED = "HELLO_RECEIVED"  # the peer's HELLO arrived before we sent ours
    SYNCING = "SYNCING"  # both pull and serve
    PULL_DONE = "PULL_DONE"  # we have all we wanted (sent BYE done); still serving the peer
    PEER_DONE = "PEER_DONE"  # the peer has all it wanted; we are still pulling
    DONE = "DONE"  # both sides complete
    FAILED = "FAILED"  # abandoned; a new session resumes from what was stored


class Trigger(enum.Enum):
    SEND_HELLO = "SEND_HELLO"
    RECV_HELLO = "RECV_HELLO"
    DIGESTS_EQUAL = "DIGESTS_EQUAL"  # both HELLOs name the same streams and digest
    SEND_SUMMARY = "SEND_SUMMARY"
    RECV_SUMMARY = "RECV_SUMMARY"
    SEND_WANT = "SEND_WANT"
    RECV_WANT = "RECV_WANT"
    SEND_RECORDS = "SEND_RECORDS"
    RECV_RECORDS = "RECV_RECORDS"
    SEND_ACK = "SEND_ACK"
    RECV_ACK = "RECV_ACK"
    SEND_BYE_DONE = "SEND_BYE_DONE"  # sent when our pull is complete
    RECV_BYE_DONE = "RECV_BYE_DONE"
    FAIL = "FAIL"


S = State
T = Trigger

_SERVING: Final = (T.RECV_WANT, T.SEND_RECORDS, T.RECV_ACK)
_PULLING: Final = (T.RECV_SUMMARY, T.SEND_WANT, T.RECV_RECORDS, T.SEND_ACK)

TRANSITIONS: Final[dict[State, dict[Trigger, State]]] = {
    S.START: {T.SEND_HELLO: S.HELLO_SENT, T.RECV_HELLO: S.HELLO_RECEIVED},
    S.HELLO_SENT: {T.RECV_HELLO: S.SYNCING},
    S.HELLO_RECEIVED: {T.SEND_HELLO: S.SYNCING},
    S.SYNCING: {
        T.DIGESTS_EQUAL: S.DONE,
        T.RECV_HELLO: S.SYNCING,  # a repeated identical HELLO is ignored
        T.SEND_SUMMARY: S.SYNCING,
        **{t: S.SYNCING for t in _PULLING + _SERVING},
        T.SEND_BYE_DONE: S.PULL_DONE,
        T.RECV_BYE_DONE: S.PEER_DONE,
    },
    S.PULL_DONE: {
        **{t: S.PULL_DONE for t in _SERVING},
        T.RECV_HELLO: S.PULL_DONE,
        T.RECV_SUMMARY: S.PULL_DONE,  # a repeated page is ignored
        T.RECV_RECORDS: S.PULL_DONE,  # a repeated batch is ignored
        T.RECV_BYE_DONE: S.DONE,
    },
    S.PEER_DONE: {
        **{t: S.PEER_DONE for t in _PULLING},
        T.RECV_HELLO: S.PEER_DONE,
        T.RECV_ACK: S.PEER_DONE,  # a repeated acknowledgement is ignored
        T.RECV_WANT: S.PEER_DONE,  # a repeated request is ignored (a new one is an error)
        T.SEND_BYE_DONE: S.DONE,
    },
    S.DONE: {},
    S.FAILED: {},
}

for _state in (S.START, S.HELLO_SENT, S.HELLO_RECEIVED, S.SYNCING, S.PULL_DONE, S.PEER_DONE):
    TRANSITIONS[_state][T.FAIL] = S.FAILED

TERMINAL: Final = frozenset({S.DONE, S.FAILED})


def next_state(state: State, trigger: Trigger) -> State | None:
    """The state after ``trigger`` in ``state``, or None if the table does not allow it."""
    return TRANSITIONS[state].get(trigger)
