"""The sans-IO session over the in-memory pipe: the normal paths."""

from __future__ import annotations

from collections.abc import Callable

from sync_city import City

from shelterkit.model.kinds import AlertBody, NoticeBody, Stream
from shelterkit.sync.memory import MemoryLink, sync_pair
from shelterkit.sync.messages import FrameBuffer, Hello, Summary, decode_payload
from shelterkit.sync.session import (
    RecordsReceived,
    SessionConfig,
    Start,
    SyncCompleted,
    SyncSession,
)
from shelterkit.sync.states import State
from shelterkit.sync.vector import SYNC_PRIORITY, priority_rank


def _ids(city: City, index: int) -> set[bytes]:
    return set(city.replicas[index].ids)


def test_two_way_sync_converges(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    for i in range(300):
        city.post(1, f"from one {i}")
    city.status(0, 12)
    result = sync_pair(city.replicas[0], city.replicas[1], city.config(0), city.config(1))
    assert (result.a_state, result.b_state) == (State.DONE, State.DONE)
    assert _ids(city, 0) == _ids(city, 1) == set(city.written)


def test_idle_round_between_converged_peers_is_small(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    city.post(1, "hello")
    sync_pair(city.replicas[0], city.replicas[1], city.config(0), city.config(1))
    link = MemoryLink(city.replicas[0], city.replicas[1], city.config(0), city.config(1))
    link.start()
    events = link.sessions[0].receive(link.inbox[0].popleft(), 0.0)
    assert events[-1] == SyncCompleted(converged_on_hello=True)
    link.run()
    assert link.finished and link.sessions[1].state is State.DONE
    assert sum(link.bytes_sent) <= 1024
    assert sum(link.bytes_sent) == 2 * link.sessions[0].counters.bytes_sent


def test_records_arrive_in_priority_order_control_first(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2, enrol_all=False)
    city.enrol(0)
    city.post(0, "board")
    city.status(0, 3)
    alert = AlertBody(identifier="a1", headline={"ja": "避難指示"})
    city.write_as_authority(alert)
    city.write_as_authority(NoticeBody(notice_id="n1", title={"ja": "給水"}))
    receiver = city.replicas[1]
    link = MemoryLink(city.replicas[0], receiver, city.config(0), city.config(1))
    link.start()
    order: list[Stream] = []
    while link.inbox[0] or link.inbox[1]:
        for side in (1, 0):
            if not link.inbox[side]:
                continue
            session = link.sessions[side]
            events = session.receive(link.inbox[side].popleft(), 0.0)
            if side == 1:
                for event in events:
                    if isinstance(event, RecordsReceived):
                        result = receiver.store(event.records, 0)
                        order += [r.stream for r in result.accepted]
            reply = link.replicas[side].drive(session, events, 0)
            if reply:
                link.inbox[1 - side].append(reply)
    assert order == sorted(order, key=priority_rank)
    assert order[0] is Stream.CONTROL and order[-1] is Stream.BOARD
    assert set(order) == set(SYNC_PRIORITY) - {Stream.ANPI}


def test_radio_link_carries_no_board(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    post = city.post(1, "board only")
    status = city.status(1, 40)
    radio_a = SessionConfig.radio(city.nodes[0].public)
    radio_b = SessionConfig.radio(city.nodes[1].public)
    sync_pair(city.replicas[0], city.replicas[1], radio_a, radio_b)
    assert status.id in city.replicas[0].ids and post.id not in city.replicas[0].ids
    # converged for what radio carries: the next radio round is an idle round
    again = sync_pair(city.replicas[0], city.replicas[1], radio_a, radio_b)
    assert again.bytes_a_to_b + again.bytes_b_to_a < 200


def test_mismatched_stream_filters_sync_the_intersection(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    post = city.post(1, "board")
    status = city.status(1, 5)
    radio_a = SessionConfig.radio(city.nodes[0].public)
    result = sync_pair(city.replicas[0], city.replicas[1], radio_a, city.config(1))
    assert (result.a_state, result.b_state) == (State.DONE, State.DONE)
    assert status.id in city.replicas[0].ids and post.id not in city.replicas[0].ids


def test_resume_resends_at_most_the_unacknowledged_batches(
    city_factory: Callable[..., City],
) -> None:
    city = city_factory(size=2)
    for i in range(1000):
        city.post(1, f"p{i}")
    puller, server = city.replicas[0], city.replicas[1]
    config = dict(batch_records=100, max_outstanding_batches=2)
    link = MemoryLink(puller, server, city.config(0, **config), city.config(1, **config))
    link.start()
    stored_before = len(puller.ids)
    # deliver until the puller has stored 300 new records, then cut the link
    while len(puller.ids) - stored_before < 300:
        for side in (1, 0):
            if link.inbox[side]:
                link.deliver(side, link.inbox[side].popleft(), 0.0)
    sent_first = link.sessions[1].counters.records_sent
    held = len(puller.ids)
    # the server had at most one more batch (the window) on the wire, never stored
    assert sent_first - 300 <= 2 * 100
    resumed = MemoryLink(puller, server, city.config(0, **config), city.config(1, **config))
    resumed.start()
    resumed.run()
    assert resumed.finished
    assert resumed.sessions[1].counters.records_sent == len(city.written) - held
    assert puller.ids == server.ids


def test_responder_that_receives_hello_first(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    city.post(1, "x")
    client = SyncSession(city.config(0), city.replicas[0].have(), 0.0)
    server = SyncSession(city.config(1), city.replicas[1].have(), 0.0)
    hello = client.send(Start())
    assert server.receive(hello, 0.0)[0].node == city.nodes[0].public  # type: ignore[union-attr]
    assert server.state is State.HELLO_RECEIVED
    reply = server.send(Start())
    sent = [decode_payload(p) for p in FrameBuffer(65535).feed(reply)]
    assert [type(m) for m in sent] == [Hello, Summary]  # HELLO, then at once the summary
    assert server.state is State.SYNCING


def test_sessions_report_bytes_and_messages(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    city.post(1, "count me")
    link = MemoryLink(city.replicas[0], city.replicas[1], city.config(0), city.config(1))
    link.start()
    link.run()
    a, b = link.sessions
    assert a.counters.bytes_sent == link.bytes_sent[0] == b.counters.bytes_received
    assert b.counters.records_sent == 1


def test_request_response_transport_completes(city_factory: Callable[..., City]) -> None:
    """Over HTTP the client POSTs its output and feeds the response back; it never stalls."""
    city = city_factory(size=2)
    for i in range(700):
        city.post(i % 2, f"p{i}")
    client_replica, server_replica = city.replicas
    client = SyncSession(city.config(0, batch_records=100), client_replica.have(), 0.0)
    server = SyncSession(city.config(1, batch_records=100), server_replica.have(), 0.0)
    body = client.send(Start())
    posts = empty_posts = 0
    while not client.finished and posts < 200:
        posts += 1
        empty_posts += not body
        response = server_replica.drive(server, server.receive(body, 0.0), 0)
        body = client_replica.drive(client, client.receive(response, 0.0), 0)
    assert client.state is State.DONE and server.state is State.DONE
    assert empty_posts == 0
    assert client_replica.ids == server_replica.ids


def test_outcome_is_known_when_the_session_ends_inside_send(
    city_factory: Callable[..., City],
) -> None:
    city = city_factory(size=2)
    city.post(0, "only the first side has this")
    a, b = city.replicas
    link = MemoryLink(a, b, city.config(0), city.config(1))
    link.start()
    link.run()
    puller = link.sessions[1]
    assert puller.state is State.DONE
    assert puller.outcome == SyncCompleted(converged_on_hello=False)
    assert link.sessions[0].outcome == SyncCompleted(converged_on_hello=False)
    # the event itself arrives with the next receive, once
    late = puller.receive(b"", 0.0)
    assert late in ([], [SyncCompleted(converged_on_hello=False)])
    assert puller.receive(b"", 0.0) == []
    idle = MemoryLink(a, b, city.config(0), city.config(1))
    idle.start()
    idle.run()
    assert idle.sessions[0].outcome == SyncCompleted(converged_on_hello=True)
