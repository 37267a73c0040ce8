"""The persons index kept by the store: search, consent, expiry, deletion, notes."""

from __future__ import annotations

from shelterkit.model.anpi import new_person, tombstone
from shelterkit.model.hlc import HybridClock, pack
from shelterkit.model.kinds import NoteBody, NoteStatus, PersonBody
from shelterkit.model.names import query_keys
from shelterkit.model.record import sign_record
from shelterkit.storage.store import Store
from tests.conftest import CITY
from tests.helpers import identity

NODE = identity("node-s01")
NOW = 1_800_000_000_000
DAY = 24 * 3600 * 1000


def person(pid: str, family: str, given: str, reading: str, **kw: object) -> PersonBody:
    args: dict[str, object] = {
        "person_id": pid,
        "family_name": family,
        "given_name": given,
        "reading": reading,
        "shelter": "S01",
        "consent": True,
        "authority_key": CITY.public,
    }
    args.update(kw)
    return new_person(**args)  # type: ignore[arg-type]


async def names(store: Store, query: str, now: int = NOW) -> list[str]:
    return [p.name for p in await store.search_persons(query_keys(query), 10, now)]


async def test_found_by_kanji_kana_and_half_width(store: Store) -> None:
    clock = HybridClock()
    await store.append_own(NODE, person("p1", "髙橋", "健一", "たかはし けんいち"), clock, NOW)
    await store.append_own(NODE, person("p2", "高田", "花子", "たかだ はなこ"), clock, NOW)
    assert await names(store, "高橋") == ["髙橋 健一"]
    assert await names(store, "たかはし") == ["髙橋 健一"]
    assert await names(store, "ﾀｶﾊｼ ｹﾝｲﾁ") == ["髙橋 健一"]
    assert await names(store, "健一　髙橋") == ["髙橋 健一"]
    assert sorted(await names(store, "タカ ハナ")) == []
    assert await names(store, "たかだはなこ") == ["高田 花子"]
    assert sorted(await names(store, "たかは")) == ["髙橋 健一"]


async def test_results_carry_permitted_fields_only(store: Store) -> None:
    body = person("p1", "山田", "太郎", "やまだ たろう", age=70, contact="090-1111-2222")
    await store.append_own(NODE, body, HybridClock(), NOW)
    (found,) = await store.search_persons(query_keys("山田"), 10, NOW)
    assert (found.name, found.reading, found.age, found.shelter) == (
        "山田 太郎",
        "やまだ たろう",
        70,
        "S01",
    )
    assert not hasattr(found, "contact_sealed") and not hasattr(found, "sex")
    assert found.updated_ms == NOW
    assert await store.anpi_received_ms() == NOW


async def test_consent_respected(store: Store) -> None:
    await store.append_own(
        NODE, person("p1", "山田", "太郎", "", consent=False), HybridClock(), NOW
    )
    assert await names(store, "山田") == []
    assert (await store.get_person("p1")) is not None


async def test_expired_people_not_listed(store: Store) -> None:
    clock = HybridClock()
    await store.append_own(NODE, person("p1", "山田", "太郎", ""), clock, NOW)
    await store.append_own(NODE, person("p2", "山田", "花子", "", expiry_ms=NOW + DAY), clock, NOW)
    assert len(await names(store, "山田", NOW + DAY - 1)) == 2
    assert await names(store, "山田", NOW + DAY) == ["山田 太郎"]
    assert await names(store, "山田", NOW + 40 * DAY) == []


async def test_older_state_arriving_late_does_not_win(store: Store) -> None:
    first = sign_record(NODE, 1, pack(NOW, 0), person("p1", "山田", "太郎", ""))
    moved = sign_record(
        identity("node-s02"), 1, pack(NOW + 5, 0), person("p1", "山田", "太郎", "", shelter="S02")
    )
    await store.append_records([moved], NOW)
    await store.append_records([first], NOW)
    (found,) = await store.search_persons(query_keys("山田"), 10, NOW)
    assert found.shelter == "S02"


async def test_deletion_removes_from_search_and_keys(store: Store) -> None:
    clock = HybridClock()
    body = person("p1", "山田", "太郎", "やまだ たろう")
    await store.append_own(NODE, body, clock, NOW)
    await store.append_own(NODE, tombstone(body), clock, NOW + 1)
    assert await names(store, "やまだ") == []
    current = await store.get_person("p1")
    assert current is not None and isinstance(current.body, PersonBody) and current.body.deleted


async def test_note_status_shown_with_person(store: Store) -> None:
    clock = HybridClock()
    await store.append_own(NODE, person("p1", "山田", "太郎", ""), clock, NOW)
    note = NoteBody(note_id="n1", person_id="p1", status=NoteStatus.BELIEVED_ALIVE)
    await store.append_own(NODE, note, clock, NOW + 1)
    (found,) = await store.search_persons(query_keys("山田"), 10, NOW)
    assert found.status is NoteStatus.BELIEVED_ALIVE


async def test_results_capped_whatever_is_asked(store: Store) -> None:
    records = [
        sign_record(NODE, i, pack(NOW + i, 0), person(f"p{i}", "佐藤", "花子", "さとう はなこ"))
        for i in range(1, 41)
    ]
    await store.append_records(records, NOW)
    assert len(await store.search_persons(query_keys("佐藤"), 1000, NOW + 100)) == 20
