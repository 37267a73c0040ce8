from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shelterkit.model.fold import active_alerts, fold, visible_notices, visible_posts
from shelterkit.model.kinds import (
    AlertStatus,
    ModerationAction,
    ModerationBody,
    MsgType,
    NoticeBody,
)
from shelterkit.model.record import sign_record
from tests.helpers import Severity, alert, identity, post

CITY = identity("city")
NODE = identity("node")


def _history() -> list:
    p1 = post(NODE, 1, 10, "one")
    p2 = post(NODE, 2, 20, "two")
    hide = sign_record(NODE, 3, 30, ModerationBody(target=p1.id, action=ModerationAction.HIDE))
    restore = sign_record(
        NODE, 4, 40, ModerationBody(target=p1.id, action=ModerationAction.RESTORE)
    )
    hide2 = sign_record(NODE, 5, 50, ModerationBody(target=p2.id, action=ModerationAction.HIDE))
    a1 = alert(CITY, 1, 11, "a1", severity=Severity.MODERATE)
    a2 = alert(CITY, 2, 21, "a2", severity=Severity.EXTREME)
    upd = alert(CITY, 3, 31, "a3", msg_type=MsgType.UPDATE, references=("a1",))
    n1 = sign_record(NODE, 6, 12, NoticeBody(notice_id="n", title={"ja": "旧"}, shelter="S01"))
    n2 = sign_record(NODE, 7, 22, NoticeBody(notice_id="n", title={"ja": "新"}, shelter="S01"))
    return [p1, p2, hide, restore, hide2, a1, a2, upd, n1, n2]


@given(st.permutations(_history()))
def test_fold_is_independent_of_arrival_order(records: list) -> None:
    assert fold(records) == fold(_history())


def test_moderation_latest_wins() -> None:
    heads = fold(_history())
    assert [p.body.text for p in visible_posts(heads)] == ["one"]  # restored; "two" hidden


def test_update_supersedes_and_severity_orders() -> None:
    heads = fold(_history())
    active = active_alerts(heads, now_ms=0)
    assert [a.body.identifier for a in active] == ["a2", "a3"]


def test_cancel_and_expiry_remove_alerts() -> None:
    a1 = alert(CITY, 1, 1, "a1", expires_ms=1000)
    a2 = alert(CITY, 2, 2, "a2")
    cancel = alert(CITY, 3, 3, "a3", msg_type=MsgType.CANCEL, references=("a2",))
    heads = fold([a1, a2, cancel])
    assert [a.body.identifier for a in active_alerts(heads, now_ms=999)] == ["a1"]
    assert active_alerts(heads, now_ms=1000) == []


def test_test_and_draft_alerts_are_not_shown() -> None:
    heads = fold([alert(CITY, 1, 1, "t", status=AlertStatus.TEST)])
    assert active_alerts(heads, 0) == []


def test_notice_newest_version_shown_for_its_shelter_only() -> None:
    heads = fold(_history())
    assert [n.body.title["ja"] for n in visible_notices(heads, 0, "S01")] == ["新"]
    assert visible_notices(heads, 0, "S02") == []


def test_targeted_alert_only_for_its_shelters() -> None:
    everyone = alert(CITY, 1, 1, "all")
    some = alert(CITY, 2, 2, "some", targets=("S01", "S03"))
    heads = fold([everyone, some])
    assert {a.body.identifier for a in active_alerts(heads, 0, shelter="S01")} == {"all", "some"}
    assert {a.body.identifier for a in active_alerts(heads, 0, shelter="S02")} == {"all"}
    assert len(active_alerts(heads, 0)) == 2  # city hall sees every alert
