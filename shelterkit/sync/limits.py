"""Every bound of the sync protocol, with its unit in its name and the reason for its value.

A peer that exceeds one of these is either broken or hostile; the session fails rather than
buffering more (an unbounded sync buffer once grew to 8.2 GB in a deployed system and could
not be resumed). ``docs/protocol.md`` lists them and a test checks the two agree.
"""

from __future__ import annotations

from shelterkit.model import record, trust

PROTOCOL_VERSION = 1

# Frames carry a 2-byte big-endian length, so one message is at most 64 KiB - 1.
FRAME_HEADER_BYTES = 2
MAX_MESSAGE_BYTES = 65535
# A RECORDS message must hold at least one record of the largest size plus its envelope.
MIN_MESSAGE_BYTES = record.MAX_RECORD_BYTES + 64
# Radio: several seconds of airtime per message at LoRa rates; the link layer fragments it.
RADIO_MAX_MESSAGE_BYTES = 8192

# Records per RECORDS batch: about 40 KB of typical records, a few SQLite pages per commit.
SYNC_BATCH_RECORDS = 256
# accept_batch cuts a larger batch before decoding anything (any link's batch fits).
MAX_ACCEPT_BATCH_RECORDS = 4 * SYNC_BATCH_RECORDS
# Radio batches stay small so an interrupted transfer loses little airtime.
RADIO_BATCH_RECORDS = 16
# Batches in flight per direction (sent, not yet acknowledged as durably stored).
MAX_OUTSTANDING_BATCHES = 4
# Ranges in one WANT: one per (origin, stream) of a batch; a batch rarely spans more.
MAX_RANGES_PER_WANT = 64

# Every (origin, stream) a node can hold: a full enrolment table plus authorities, six streams.
MAX_VECTOR_ORIGINS = trust.MAX_ENROLLED + 64
MAX_VECTOR_ENTRIES = MAX_VECTOR_ORIGINS * 6

# A session with no complete message for this long is abandoned; the next one resumes.
SESSION_IDLE_TIMEOUT_S = 60.0
# Radio: a full-size message at ~1 kbit/s plus retries takes minutes.
RADIO_IDLE_TIMEOUT_S = 600.0

# Origins tracked in the rejection tally; the rest are counted together (log once per origin).
MAX_REJECTION_ORIGINS = 256
# Text carried in a BYE for the log line at the other end.
MAX_BYE_DETAIL_CHARS = 200
