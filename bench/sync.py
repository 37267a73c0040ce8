"""Sync efficiency: wire bytes against the missing records, the idle round, convergence time.

Two enrolled nodes are partitioned; each writes the same number of records (board posts of
varied length and status reports, as a shelter does). Then one session over the in-memory
pipe heals them. Prints one table and whether the targets of the issue are met; exits 1
when a target is missed.

    .venv/bin/python bench/sync.py                 # 10,000 records per side, ~10 s
    .venv/bin/python bench/sync.py --records 2000
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import EnrolBody, PostBody, StatusBody
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync.memory import MemoryLink, MemoryReplica, sync_pair
from shelterkit.sync.session import SessionConfig
from shelterkit.sync.states import State

# Targets from issue 3 (Acceptance).
MAX_WIRE_RATIO = 1.15
MAX_IDLE_ROUND_BYTES = 1024
WALL_MS = 1_790_000_000_000
WORDS = [
    "水",
    "食料",
    "毛布",
    "薬",
    "充電",
    "トイレ",
    "情報",
    "家族",
    "無事",
    "避難所",
    "water",
    "blanket",
    "phone",
]


def _replicas(rng: random.Random) -> tuple[list[Identity], list[MemoryReplica]]:
    authority = Identity(rng.randbytes(32))
    nodes = [Identity(rng.randbytes(32)) for _ in range(2)]
    replicas = [
        MemoryReplica(
            TrustPolicy(frozenset({authority.public}), own_key=n.public, own_shelter=f"s{i}")
        )
        for i, n in enumerate(nodes)
    ]
    for index, node in enumerate(nodes):
        replicas[0].write(authority, EnrolBody(node_key=node.public, shelter=f"s{index}"), WALL_MS)
    sync_pair(
        replicas[0], replicas[1], SessionConfig(nodes[0].public), SessionConfig(nodes[1].public)
    )
    return nodes, replicas


def _write(
    rng: random.Random, replica: MemoryReplica, node: Identity, shelter: str, count: int
) -> int:
    size = 0
    for i in range(count):
        if i % 5 == 4:
            body: PostBody | StatusBody = StatusBody(
                shelter=shelter, headcount=rng.randrange(400), battery_pct=rng.randrange(101)
            )
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30)))
            body = PostBody(text=text, shelter=shelter)
        size += len(replica.write(node, body, WALL_MS + i).wire)
    return size


def run(records: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    nodes, replicas = _replicas(rng)
    configs = [SessionConfig(n.public) for n in nodes]
    missing_bytes = _write(rng, replicas[0], nodes[0], "s0", records)
    missing_bytes += _write(rng, replicas[1], nodes[1], "s1", records)

    started = time.perf_counter()
    link = MemoryLink(replicas[0], replicas[1], configs[0], configs[1])
    link.start()
    link.run(0.0, WALL_MS)
    elapsed = time.perf_counter() - started
    assert link.sessions[0].state is State.DONE and link.sessions[1].state is State.DONE
    assert replicas[0].ids == replicas[1].ids
    wire_bytes = sum(link.bytes_sent)
    messages = sum(s.counters.messages_sent for s in link.sessions)

    idle = sync_pair(replicas[0], replicas[1], configs[0], configs[1])
    radio = [SessionConfig.radio(n.public) for n in nodes]
    idle_radio = sync_pair(replicas[0], replicas[1], radio[0], radio[1])
    return {
        "records": 2 * records,
        "missing_bytes": missing_bytes,
        "wire_bytes": wire_bytes,
        "ratio": wire_bytes / missing_bytes,
        "messages": messages,
        "idle_bytes": idle.bytes_a_to_b + idle.bytes_b_to_a,
        "idle_radio_bytes": idle_radio.bytes_a_to_b + idle_radio.bytes_b_to_a,
        "seconds": elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="records written per side")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    r = run(args.records, args.seed)
    ok_ratio = r["ratio"] <= MAX_WIRE_RATIO
    ok_idle = r["idle_bytes"] <= MAX_IDLE_ROUND_BYTES
    rows = [
        ("records exchanged after the partition", f"{r['records']:,.0f}", ""),
        ("bytes of the missing records", f"{r['missing_bytes']:,.0f}", ""),
        ("bytes on the wire (both directions)", f"{r['wire_bytes']:,.0f}", ""),
        ("messages", f"{r['messages']:,.0f}", ""),
        (
            "wire bytes / missing bytes",
            f"{r['ratio']:.4f}",
            f"<= {MAX_WIRE_RATIO} " + ("ok" if ok_ratio else "MISSED"),
        ),
        (
            "idle round between converged peers (bytes)",
            f"{r['idle_bytes']:,.0f}",
            f"<= {MAX_IDLE_ROUND_BYTES} " + ("ok" if ok_idle else "MISSED"),
        ),
        ("idle round on a radio link (bytes)", f"{r['idle_radio_bytes']:,.0f}", ""),
        (f"time to converge {r['records']:,.0f} records, in memory (s)", f"{r['seconds']:.2f}", ""),
        ("records per second (verified and stored)", f"{r['records'] / r['seconds']:,.0f}", ""),
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")
    return 0 if ok_ratio and ok_idle else 1


if __name__ == "__main__":
    sys.exit(main())
