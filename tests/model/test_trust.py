from __future__ import annotations

import pytest

from shelterkit.errors import TrustError
from shelterkit.model.kinds import EnrolBody, NoticeBody, RedactBody, RevokeBody
from shelterkit.model.record import sign_record
from shelterkit.model.trust import TrustPolicy
from tests.helpers import alert, identity, post

CITY = identity("city")
NODE = identity("node")
OTHER = identity("other")


def policy() -> TrustPolicy:
    return TrustPolicy(frozenset({CITY.public}), own_key=OTHER.public, own_shelter="S02")


def test_alert_from_node_rejected() -> None:
    with pytest.raises(TrustError, match="city hall"):
        policy().check(alert(OTHER, 1, 1))


def test_unenrolled_origin_rejected() -> None:
    with pytest.raises(TrustError, match="not enrolled"):
        policy().check(post(NODE, 1, 1))


def test_enrol_then_revoke() -> None:
    p = policy()
    enrol = sign_record(CITY, 1, 1, EnrolBody(node_key=NODE.public, shelter="S01"))
    p.check(enrol)
    p.learn(enrol)
    p.check(post(NODE, 1, 2))
    revoke = sign_record(CITY, 2, 3, RevokeBody(node_key=NODE.public))
    p.learn(revoke)
    with pytest.raises(TrustError, match="revoked"):
        p.check(post(NODE, 2, 4))
    p.learn(enrol)  # a replayed enrolment does not undo a revocation
    with pytest.raises(TrustError):
        p.check(post(NODE, 3, 5))


def test_enrolment_by_a_node_rejected() -> None:
    with pytest.raises(TrustError):
        policy().check(sign_record(OTHER, 1, 1, EnrolBody(node_key=NODE.public, shelter="S01")))


def test_notice_for_another_shelter_rejected() -> None:
    p = policy()
    own = sign_record(OTHER, 1, 1, NoticeBody(notice_id="x", title={"ja": "t"}, shelter="S02"))
    p.check(own)
    for shelter in ("S01", ""):
        forged = sign_record(
            OTHER, 2, 2, NoticeBody(notice_id="y", title={"ja": "t"}, shelter=shelter)
        )
        with pytest.raises(TrustError):
            p.check(forged)


def test_a_node_redacts_only_its_own_records_city_hall_any() -> None:
    p = policy()
    target = ((1, bytes(16)),)
    p.check(sign_record(OTHER, 1, 1, RedactBody(target)))  # own (empty origin)
    p.check(sign_record(OTHER, 2, 1, RedactBody(target, origin=OTHER.public)))  # own, named
    with pytest.raises(TrustError, match="only city hall"):
        p.check(sign_record(OTHER, 3, 1, RedactBody(target, origin=NODE.public)))
    p.check(sign_record(CITY, 1, 1, RedactBody(target, origin=NODE.public)))
