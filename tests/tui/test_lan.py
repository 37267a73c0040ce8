"""The LAN screen: nodes found by zeroconf (a fake source here), the fleet's columns for
each that accepts the token, live appearance and disappearance, and opening one."""

from __future__ import annotations

from textual.widgets import DataTable

from shelterkit.tui.lan import LanNode, fleet_entry
from tests.tui.fake import LAN_NODES, NODE, NOW_MS, fake_lan_app
from tests.tui.test_app import SIZE, column, pane, settle, text_of


def row_of(table: DataTable, shelter: str) -> list[str]:
    for r in range(table.row_count):
        cells = [str(c) for c in table.get_row_at(r)]
        if cells[0] == shelter:
            return cells
    raise AssertionError(f"no row for {shelter}: {column(table, 0)}")


def test_fleet_entry_takes_city_hall_contact_from_the_peers() -> None:
    found = LanNode("a1" * 32, "S01", "node", "http://10.0.0.11:8081/")
    info = {
        **NODE,
        "peers": [
            {"node": "cc" * 32, "shelter": "CITY", "last_ms": NOW_MS - 9_000},
            {"node": "d4" * 32, "shelter": "S48", "last_ms": NOW_MS - 1_000},
        ],
    }
    status = {"headcount": 12, "battery_pct": 40, "clients": 3, "links": "", "needs": {}}
    entry = fleet_entry(found, info, status)
    assert entry["last_contact_ms"] == NOW_MS - 9_000  # S48 is a neighbour, not city hall
    assert (entry["headcount"], entry["battery_pct"], entry["clients"]) == (12, 40, 3)
    assert entry["links"] == "http:up"  # none in the status record: the node's own word
    assert entry["names"]["en"] == "Karasuyama Community Hall"
    never = fleet_entry(found, {**NODE, "peers": []}, None)
    assert never["last_contact_ms"] is None and never["headcount"] is None


def test_fleet_entry_takes_only_well_formed_values() -> None:
    found = LanNode("a1" * 32, "S01", "node", "http://10.0.0.11:8081/")
    junk = {
        "name": {"ja": "x" * 500, "en": 5, "fr": "y"},
        "peers": [{"shelter": "CITY", "last_ms": "soon"}, "nonsense", {"shelter": "CITY"}],
        "link_state": ["up"],
    }
    status = {"headcount": "87", "battery_pct": True, "clients": 3.5, "needs": ["water"]}
    entry = fleet_entry(found, junk, status)
    assert entry["last_contact_ms"] is None
    assert (entry["headcount"], entry["battery_pct"], entry["clients"]) == (None, None, None)
    assert entry["needs"] is None and entry["links"] == ""
    assert entry["names"] == {"ja": "x" * 40, "en": ""}
    assert fleet_entry(found, {"peers": "all"}, "not a status")["headcount"] is None  # type: ignore[arg-type]


async def test_lists_every_node_found_with_the_fleet_columns_where_the_token_opens() -> None:
    app, _, clients = fake_lan_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert pane(pilot) == "lan" and app.client is None
        table = app.query_one("#lan-table", DataTable)
        assert column(table, 0) == ["CITY", "S01", "S02", "S05"]
        s01 = row_of(table, "S01")
        assert s01[1:3] == ["a1a1a1a1", "避難所"]
        assert "良好" in s01[3] and "80%" in s01[4] and s01[5:7] == ["87", "34"]
        assert "水!" in s01[8] and s01[9] == "10.0.0.11:8081" and s01[10] == "烏山公民館"
        assert "鍵が違う" in row_of(table, "S02")[3] and row_of(table, "S02")[4] == "—"
        assert "応答なし" in row_of(table, "S05")[3]
        city = row_of(table, "CITY")
        assert city[2] == "市役所" and "応答あり" in city[3] and city[7] == "—"
        summary = text_of(pilot, "#lan-summary")
        assert "応答のない機器: S05" in summary and "開けない機器: S02" in summary
        assert "4台" in text_of(pilot, "#bar")
        assert clients["http://10.0.0.11:8081/"].called("shelter_status")
        assert not clients["http://10.0.0.1:8080/"].called("shelter_status")  # a hub has none


async def test_nodes_appear_and_disappear_live() -> None:
    app, lan, clients = fake_lan_app(lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#lan-table", DataTable)
        newcomer = LanNode("f6" * 32, "S06", "node", "http://10.0.0.16:8081/")
        lan.set([*LAN_NODES, newcomer])  # what zeroconf does when a node says hello
        await settle(pilot)
        assert column(table, 0) == ["CITY", "S01", "S02", "S05", "S06"]
        assert "not as advertised" in row_of(table, "S06")[3]  # it answers with another key
        assert not clients["http://10.0.0.16:8081/"].called("node")  # so no token went there
        lan.set([n for n in LAN_NODES if n.shelter != "S02"])  # S02 said goodbye
        await settle(pilot)
        assert column(table, 0) == ["CITY", "S01", "S05"]
        assert clients["http://10.0.0.12:8081/"].closed
        assert "3 found" in text_of(pilot, "#bar")
        lan.set([])
        await settle(pilot)
        assert table.row_count == 0
        assert "Nothing found yet" in text_of(pilot, "#lan-summary")


async def test_enter_opens_a_node_and_zero_comes_back() -> None:
    app, _, clients = fake_lan_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down")  # CITY → S01
        await pilot.press("enter")
        await settle(pilot)
        assert pane(pilot) == "node" and app.role == "node"
        assert app.client is clients["http://10.0.0.11:8081/"]
        assert "S01  http://10.0.0.11:8081/" in text_of(pilot, "#bar")
        assert "1234" in text_of(pilot, "#node-health")
        await pilot.press("3")
        await settle(pilot)
        assert pane(pilot) == "board"
        await pilot.press("0")
        await settle(pilot)
        assert pane(pilot) == "lan" and "LAN" in text_of(pilot, "#bar")
        # the hub opens on its fleet
        await pilot.press("up")
        await pilot.press("enter")
        await settle(pilot)
        assert app.role == "hub" and pane(pilot) == "fleet"


async def test_nothing_opens_before_a_node_is_chosen() -> None:
    app, _, _ = fake_lan_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in "1234567t":
            await pilot.press(key)
            await settle(pilot)
            assert pane(pilot) == "lan" and app.client is None


async def test_a_node_that_refused_the_token_is_not_asked_at_every_refresh() -> None:
    app, _, clients = fake_lan_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(4):
            await pilot.press("r")
            await settle(pilot)
        assert len(clients["http://10.0.0.12:8081/"].called("node")) == 1  # S02, refused
        silent = clients["http://10.0.0.15:8081/"]  # S05, no answer: asked every time for
        assert len(silent.called("prove")) >= 5 and not silent.called("node")  # its key only
        assert len(clients["http://10.0.0.11:8081/"].called("node")) >= 5  # S01, answers


async def test_a_token_that_names_its_node_goes_to_that_node_only() -> None:
    from shelterkit.admin.tokens import mint_token

    token = mint_token(b"s" * 32, NOW_MS / 1000, node=bytes.fromhex("a1" * 32))  # S01's
    app, _, clients = fake_lan_app(lang="en", token=token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#lan-table", DataTable)
        assert "opens" not in text_of(pilot, "#lan-summary")
        for other in ("CITY", "S02", "S05"):
            assert "token for another" in row_of(table, other)[3]
        assert set(clients) == {"http://10.0.0.11:8081/"}  # nobody else was even asked
        s01 = clients["http://10.0.0.11:8081/"]
        assert s01.called("prove") == ["a1" * 32] and s01.called("node")
        assert "ok" in row_of(table, "S01")[3]
