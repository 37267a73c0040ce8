"""The peer's heads for our own keys (``PeerSummarized``): how a node restored from an old
image of its card learns the sequence numbers it used since (docs/durability.md)."""

from __future__ import annotations

from collections.abc import Callable

from sync_city import WALL_MS, City

from shelterkit.model.kinds import Stream
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync import (
    RADIO_STREAMS,
    Event,
    PeerSummarized,
    SessionConfig,
    State,
    SyncCompleted,
)
from shelterkit.sync.memory import MemoryLink, MemoryReplica


def run(
    a: MemoryReplica, b: MemoryReplica, config_a: SessionConfig, config_b: SessionConfig
) -> tuple[list[Event], list[Event]]:
    """One session over a perfect pipe; every event each side's session reported."""
    link = MemoryLink(a, b, config_a, config_b)
    seen: tuple[list[Event], list[Event]] = ([], [])
    for side in (0, 1):
        original = link.sessions[side].receive

        def receive(data: bytes, now: float, original=original, side=side) -> list[Event]:  # type: ignore[no-untyped-def]
            events = original(data, now)
            seen[side].extend(events)
            return events

        link.sessions[side].receive = receive  # type: ignore[method-assign]
    link.start()
    link.run()
    for side in (0, 1):  # the last events may wait in the session for one more call
        link.sessions[side].receive(b"", 0.0)
    assert link.sessions[0].state is State.DONE and link.sessions[1].state is State.DONE
    return seen


def summaries(events: list[Event]) -> list[PeerSummarized]:
    return [e for e in events if isinstance(e, PeerSummarized)]


def restored_copy(city: City, index: int, keep: int) -> MemoryReplica:
    """Node ``index``'s replica as an old image of its card: its first ``keep`` posts."""
    old = city.replicas[index]
    node = city.nodes[index]
    image = MemoryReplica(TrustPolicy(old.trust.authorities, own_key=node.public))
    wires = [
        r.wire
        for r in old.records()
        if r.origin != node.public or (r.stream is Stream.BOARD and r.seq <= keep)
    ]
    image.store(wires, WALL_MS)
    return image


def test_a_restored_node_hears_its_own_newer_heads(city_factory: Callable[..., City]) -> None:
    city = city_factory(2)
    for i in range(7):
        city.post(1, f"post {i}")
    run(city.replicas[1], city.replicas[0], city.config(1), city.config(0))
    assert city.replicas[0].have().head(city.nodes[1].public, Stream.BOARD) == 7
    image = restored_copy(city, 1, keep=3)
    assert image.have().head(city.nodes[1].public, Stream.BOARD) == 3

    restored, hub = run(image, city.replicas[0], city.config(1), city.config(0))

    (heard,) = summaries(restored)
    assert heard.own_heads.head(city.nodes[1].public, Stream.BOARD) == 7
    assert heard.streams == frozenset(Stream)
    # only our own keys are reported: the hub's and other nodes' heads are not ours
    assert heard.own_heads.origins() == {city.nodes[1].public}
    # the hub hears its own key (node 0's) at no more than it holds: nothing lost there
    (hub_heard,) = summaries(hub)
    assert hub_heard.own_heads.head(city.nodes[0].public, Stream.BOARD) == 0
    # the summary arrives before the records it announces are asked for
    kinds = [type(e).__name__ for e in restored]
    assert kinds.index("PeerSummarized") < kinds.index("RecordsReceived")


def test_further_own_keys_are_reported(city_factory: Callable[..., City]) -> None:
    """A hub signs as its node and as city hall: both keys' heads come back."""
    city = city_factory(2)
    city.post(1, "x")
    _, hub = run(
        city.replicas[1],
        city.replicas[0],
        city.config(1),
        city.config(0, own_keys=frozenset({city.authority.public})),
    )
    (heard,) = summaries(hub)
    enrolments = city.replicas[0].have().head(city.authority.public, Stream.CONTROL)
    assert enrolments == 2
    assert heard.own_heads.head(city.authority.public, Stream.CONTROL) == enrolments


def test_converged_peers_report_empty_heads_for_the_shared_streams(
    city_factory: Callable[..., City],
) -> None:
    city = city_factory(2)
    run(city.replicas[1], city.replicas[0], city.config(1), city.config(0))
    a, b = run(
        city.replicas[1],
        city.replicas[0],
        city.config(1, streams=RADIO_STREAMS),
        city.config(0, streams=RADIO_STREAMS),
    )
    assert any(isinstance(e, SyncCompleted) and e.converged_on_hello for e in a)
    (heard,) = summaries(a)
    assert len(heard.own_heads) == 0 and heard.streams == RADIO_STREAMS
    assert len(summaries(b)) == 1


def test_a_radio_summary_covers_only_the_radio_streams(city_factory: Callable[..., City]) -> None:
    city = city_factory(2)
    for i in range(4):
        city.post(1, f"post {i}")
        city.status(1, headcount=i)
    run(city.replicas[1], city.replicas[0], city.config(1), city.config(0))
    image = restored_copy(city, 1, keep=1)  # keeps no status record at all
    restored, _ = run(
        image,
        city.replicas[0],
        city.config(1, streams=RADIO_STREAMS),
        city.config(0, streams=RADIO_STREAMS),
    )
    (heard,) = summaries(restored)
    assert heard.streams == RADIO_STREAMS
    assert heard.own_heads.head(city.nodes[1].public, Stream.STATUS) == 4
    # the board does not cross a radio: its numbers are not learnt here
    assert heard.own_heads.head(city.nodes[1].public, Stream.BOARD) == 0
