"""accept_batch: only valid, contiguous, authorised records are stored."""

from __future__ import annotations

import random
from collections.abc import Callable

from sync_city import WALL_MS, City

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import AlertBody, PostBody, RevokeBody
from shelterkit.model.record import sign_record
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync.accept import RejectionTally, accept_batch
from shelterkit.sync.limits import MAX_ACCEPT_BATCH_RECORDS
from shelterkit.sync.vector import EMPTY_VECTOR


def _fresh(city: City) -> TrustPolicy:
    return TrustPolicy(frozenset({city.authority.public}))


def test_enrolment_and_records_in_one_batch_accepted_in_any_order(
    city_factory: Callable[..., City],
) -> None:
    city = city_factory(size=2)
    posts = [city.post(1, f"p{i}") for i in range(3)]
    control = list(city.replicas[0].logs[(city.authority.public, posts[0].stream.CONTROL)])
    wires = [p.wire for p in reversed(posts)] + [r.wire for r in control]
    result = accept_batch(wires, _fresh(city), EMPTY_VECTOR)
    assert [r.seq for r in result.accepted if r.origin == city.nodes[1].public] == [1, 2, 3]
    assert not result.rejected
    assert result.have.head(city.nodes[1].public, posts[0].stream) == 3


def test_forged_signature_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    post = city.post(1, "real")
    forged = bytearray(post.wire)
    forged[-5] ^= 0x01  # inside the signature
    trust = _fresh(city)
    trust.enrolled[city.nodes[1].public] = "s1"
    tally = RejectionTally()
    result = accept_batch([bytes(forged)], trust, EMPTY_VECTOR, tally=tally)
    assert not result.accepted
    assert "signature" in result.rejected[0].reason
    assert tally.by_origin == {city.nodes[1].public: 1}


def test_flipped_body_byte_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    wire = bytearray(city.post(1, "hello world").wire)
    wire[wire.index(b"hello")] ^= 0x20  # "Hello": still valid text, wrong signature
    trust = _fresh(city)
    trust.enrolled[city.nodes[1].public] = "s1"
    assert not accept_batch([bytes(wire)], trust, EMPTY_VECTOR).accepted


def test_unenrolled_origin_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2, enrol_all=False)
    post = city.post(1, "who am I")
    result = accept_batch([post.wire], _fresh(city), EMPTY_VECTOR)
    assert not result.accepted
    assert result.rejected[0].reason == "origin is not enrolled"


def test_revoked_origin_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    post = city.post(1, "before revocation")
    city.write_as_authority(RevokeBody(node_key=city.nodes[1].public, reason="stolen"))
    control = city.replicas[0].logs[(city.authority.public, post.stream.CONTROL)]
    result = accept_batch([r.wire for r in control] + [post.wire], _fresh(city), EMPTY_VECTOR)
    assert all(r.origin == city.authority.public for r in result.accepted)
    assert result.rejected[0].reason == "origin has been revoked"


def test_alert_from_a_node_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    body = AlertBody(identifier="fake", headline={"ja": "偽の警報"})
    record = city.replicas[1].write(city.nodes[1], body, WALL_MS)
    trust = _fresh(city)
    trust.enrolled[city.nodes[1].public] = "s1"
    result = accept_batch([record.wire], trust, EMPTY_VECTOR)
    assert not result.accepted
    assert "city hall" in result.rejected[0].reason


def test_replayed_batch_is_a_no_op_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    hub = city.replicas[0]
    wires = [r.wire for r in hub.records()]
    first = accept_batch(wires, _fresh(city), EMPTY_VECTOR)
    again = accept_batch(wires, _fresh(city), first.have)
    assert len(first.accepted) == 2
    assert not again.accepted and not again.rejected
    assert again.duplicates == 2 and again.have == first.have


def test_same_record_1000_times_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    enrol = next(iter(city.replicas[0].records()))
    result = accept_batch([enrol.wire] * 1000, _fresh(city), EMPTY_VECTOR)
    assert len(result.accepted) == 1
    assert result.duplicates == 999 and not result.rejected


def test_oversized_batch_cut_before_decoding_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    enrol = next(iter(city.replicas[0].records()))
    result = accept_batch([enrol.wire] * 3000, _fresh(city), EMPTY_VECTOR)
    assert len(result.accepted) == 1
    assert len(result.rejected) == 3000 - MAX_ACCEPT_BATCH_RECORDS
    assert {r.reason for r in result.rejected} == {"batch too large"}


def test_records_beyond_the_head_are_dropped_not_held(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    posts = [city.post(1, f"p{i}") for i in range(4)]
    trust = _fresh(city)
    trust.enrolled[city.nodes[1].public] = "s1"
    result = accept_batch([posts[0].wire, posts[2].wire, posts[3].wire], trust, EMPTY_VECTOR)
    assert [r.seq for r in result.accepted] == [1]
    assert result.beyond_head == 2 and not result.rejected


def test_fork_in_one_batch_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    node = city.nodes[1]
    one = sign_record(node, 1, 5, PostBody(text="one"))
    other = sign_record(node, 1, 6, PostBody(text="other"))
    trust = _fresh(city)
    trust.enrolled[node.public] = "s1"
    result = accept_batch([one.wire, other.wire], trust, EMPTY_VECTOR)
    assert len(result.accepted) == 1
    assert result.rejected[0].reason.startswith("fork")


def test_garbage_records_rejected_and_counted_unattributed() -> None:
    rng = random.Random(3)
    tally = RejectionTally()
    trust = TrustPolicy(frozenset({b"\x01" * 32}))
    wires = [rng.randbytes(rng.randint(1, 300)) for _ in range(200)] + [b"\xff" * 7000]
    result = accept_batch(wires, trust, EMPTY_VECTOR, tally=tally)
    assert not result.accepted
    assert len(result.rejected) == 201
    assert tally.total == 201 and not tally.by_origin


def test_rejection_tally_is_bounded_attack() -> None:
    tally = RejectionTally(max_origins=8)
    firsts = [tally.count(Identity(bytes([i]) * 32).public) for i in range(100)]
    assert sum(firsts) == 8 and len(tally.by_origin) == 8
    assert tally.unattributed == 92 and tally.total == 100
    assert not tally.count(next(iter(tally.by_origin)))  # logged once per origin


def test_trust_policy_not_modified_by_accept(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=3)
    trust = _fresh(city)
    accept_batch([r.wire for r in city.replicas[0].records()], trust, EMPTY_VECTOR)
    assert trust.enrolled == {}


def test_unenrolled_origin_refused_before_signature_check_attack(
    city_factory: Callable[..., City],
) -> None:
    city = city_factory(size=2, enrol_all=False)
    wire = bytearray(city.post(1, "noise").wire)
    wire[-1] ^= 0xFF  # a bad signature too: the cheaper refusal comes first
    result = accept_batch([bytes(wire)], _fresh(city), EMPTY_VECTOR)
    assert result.rejected[0].reason == "origin is not enrolled"
