"""Provisioning the city's 48 shelters: bundles, secrets, idempotence, additions, removals."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import tomllib
from pathlib import Path

import pytest

from shelterkit.config import Config, NodeSettings, load_config
from shelterkit.hub.service import Hub
from shelterkit.model.kinds import EnrolBody, RevokeBody
from shelterkit.model.record import decode_record
from shelterkit.net.render import render_all
from shelterkit.net.settings import ssid_for
from shelterkit.paths import DataPaths
from shelterkit.provision.inventory import Backhaul, read_inventory
from shelterkit.service.run import wall_ms
from tests.provision.conftest import HUB_URL, Provisioned, digest_tree

BUNDLE_FILES = {
    "bundle.json": 0o644,
    "node.key": 0o600,
    "enrolment.rec": 0o600,
    "admin.token": 0o600,
    "node.toml": 0o644,
    "hostname": 0o644,
    "network/hostapd.conf": 0o644,
    "network/dnsmasq.conf": 0o644,
    "network/nftables.conf": 0o644,
    "sheet.png": 0o644,
    "sheet.pdf": 0o644,
}


def authority_seed(hub: Path) -> bytes:
    return bytes.fromhex(DataPaths(hub).authority_key.read_text("ascii").strip())


def authority_public(provisioned: Provisioned) -> str:
    return str(json.loads((provisioned.out / "provision.json").read_text())["authority_key"])


def test_every_shelter_gets_a_complete_bundle(provisioned: Provisioned) -> None:
    shelters = read_inventory(provisioned.inventory)
    bundles = sorted(p.name for p in (provisioned.out / "bundles").iterdir())
    assert len(bundles) == 48 and bundles == sorted(s.id for s in shelters)
    for s in shelters:
        folder = provisioned.out / "bundles" / s.id
        files = {
            str(p.relative_to(folder)): p.stat().st_mode & 0o777
            for p in folder.rglob("*")
            if p.is_file()
        }
        assert files == BUNDLE_FILES, s.id


def test_bundle_config_matches_the_inventory(provisioned: Provisioned) -> None:
    authority = authority_public(provisioned)
    shelters = read_inventory(provisioned.inventory)
    by_id = {s.id: s for s in shelters}
    relays: set[str] = set()
    radios: dict[str, list[tuple[str, str]]] = {}
    for s in shelters:
        folder = provisioned.out / "bundles" / s.id
        config = load_config(folder / "node.toml")
        assert (config.shelter.id, config.shelter.name_ja) == (s.id, s.name_ja)
        assert (config.shelter.name_en, config.shelter.capacity) == (s.name_en, s.capacity)
        assert config.node.authority_keys == [authority]
        assert config.node.data_dir == "/var/lib/shelterkit"
        net = config.network_settings()
        assert net.ssid == ssid_for(s.name_ja, s.id)
        for name, text in render_all(net).items():
            assert (folder / "network" / name).read_text("utf-8") == text
        manifest = json.loads((folder / "bundle.json").read_text("utf-8"))
        assert config.node.peers == []  # neighbours on a LAN are found by zeroconf
        if s.backhaul is Backhaul.NONE:
            assert config.node.hub_url == "" and net.uplink_interface is None
            assert len(manifest["relays"]) == 2
            for relay in manifest["relays"]:
                assert by_id[relay].backhaul is not Backhaul.NONE
                relays.add(relay)
        else:
            assert config.node.hub_url == HUB_URL and manifest["relays"] == []
            assert net.uplink_interface == "eth0"
        radios[s.id] = [(r.driver, r.port) for r in config.radio]
        manifest = json.loads((folder / "bundle.json").read_text("utf-8"))
        assert manifest["format"] == 1 and manifest["ssid"] == net.ssid
        assert manifest["portal_url"] == "http://shelter.lan/"
        assert [n["km"] for n in manifest["neighbours"]] == sorted(
            n["km"] for n in manifest["neighbours"]
        )
    # a radio at each shelter without backhaul and at each of their relays, none elsewhere
    on_radio = {s.id for s in shelters if s.backhaul is Backhaul.NONE} | relays
    assert {sid for sid, r in radios.items() if r} == on_radio
    assert all(r == [("e220", "/dev/ttyUSB0")] for sid, r in radios.items() if sid in on_radio)
    assert len(on_radio) > 7


def test_enrolments_are_signed_by_the_authority(provisioned: Provisioned) -> None:
    authority = bytes.fromhex(authority_public(provisioned))
    keys = set()
    for folder in sorted((provisioned.out / "bundles").iterdir()):
        record = decode_record((folder / "enrolment.rec").read_bytes())  # checks the signature
        manifest = json.loads((folder / "bundle.json").read_text("utf-8"))
        assert record.origin == authority
        assert isinstance(record.body, EnrolBody)
        assert record.body.shelter == folder.name
        assert record.body.node_key.hex() == manifest["node_key"]
        keys.add(manifest["node_key"])
        assert len(bytes.fromhex((folder / "admin.token").read_text().strip())) == 32
    assert len(keys) == 48


def test_authority_key_never_enters_the_output(provisioned: Provisioned) -> None:
    seed = authority_seed(provisioned.hub)
    needles = [seed, seed.hex().encode(), seed.hex().upper().encode()]
    files = [p for p in provisioned.out.rglob("*") if p.is_file()]
    assert len(files) >= 48 * len(BUNDLE_FILES)
    for path in files:
        data = path.read_bytes()
        assert not any(needle in data for needle in needles), path


def test_index_lists_every_shelter(provisioned: Provisioned) -> None:
    with (provisioned.out / "index.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [s.id for s in read_inventory(provisioned.inventory)]
    assert {r["status"] for r in rows} == {"enrolled"}
    assert sum(r["hub_url"] == "" for r in rows) == 7
    assert sum(r["relays"] != "" for r in rows) == 7
    pdf = (provisioned.out / "sheets.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page\b", pdf)) == 48


async def test_hub_store_holds_every_enrolment(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    hub = await Hub.open(Config(node=NodeSettings(data_dir=str(copy.hub))), wall_ms)
    try:
        fleet = await hub.fleet()
    finally:
        await hub.close()
    assert len(fleet) == 48
    assert {v.shelter for v in fleet} == {s.id for s in read_inventory(copy.inventory)}
    assert not any(v.revoked for v in fleet)


def test_rerun_changes_nothing(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    before = digest_tree(copy.out)
    assert copy.run() == 0  # the hub URL is remembered
    assert digest_tree(copy.out) == before  # same bytes, modes, and not even rewritten


def test_adding_a_shelter_changes_no_other_bundle(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    before = digest_tree(copy.out / "bundles")
    with copy.inventory.open("a", encoding="utf-8") as f:
        # next to S07, which has no backhaul: still its plan stays as it was
        f.write("S49,新しい避難所,New Shelter,36.6600,140.0600,school,100,fiber,8.0,no\n")
    assert copy.run() == 0
    after = digest_tree(copy.out / "bundles")
    added = {k: v for k, v in after.items() if k.startswith("S49/")}
    assert len(added) == len(BUNDLE_FILES)
    assert {k: v for k, v in after.items() if not k.startswith("S49/")} == before


def test_removing_a_shelter_revokes_its_node(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    old_key = json.loads((copy.out / "bundles/S30/bundle.json").read_text())["node_key"]
    lines = copy.inventory.read_text("utf-8").splitlines(keepends=True)
    copy.inventory.write_text("".join(x for x in lines if not x.startswith("S30,")), "utf-8")
    naming_s30 = {
        p.parent.name
        for p in (copy.out / "bundles").glob("*/bundle.json")
        if '"S30"' in p.read_text("utf-8")
    }
    before = digest_tree(copy.out / "bundles")

    assert copy.run() == 0
    assert not (copy.out / "bundles/S30").exists()
    record = decode_record((copy.out / "revocations/S30.rec").read_bytes())
    assert record.origin.hex() == authority_public(copy)
    assert isinstance(record.body, RevokeBody) and record.body.node_key.hex() == old_key
    after = digest_tree(copy.out / "bundles")
    untouched = {k: v for k, v in before.items() if k.split("/")[0] not in naming_s30 | {"S30"}}
    assert {k: v for k, v in after.items() if k in untouched} == untouched
    with (copy.out / "index.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["id"] == "S30"]
    assert [(r["status"], r["node_key"]) for r in rows] == [("revoked", old_key)]

    # once is enough: a further run revokes nothing more
    revocations = digest_tree(copy.out / "revocations")
    assert copy.run() == 0
    assert digest_tree(copy.out / "revocations") == revocations


async def test_removed_node_is_revoked_at_the_hub(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    old_key = json.loads((copy.out / "bundles/S48/bundle.json").read_text())["node_key"]
    lines = copy.inventory.read_text("utf-8").splitlines(keepends=True)
    copy.inventory.write_text("".join(x for x in lines if not x.startswith("S48,")), "utf-8")
    assert await asyncio.to_thread(copy.run) == 0
    hub = await Hub.open(Config(node=NodeSettings(data_dir=str(copy.hub))), wall_ms)
    try:
        assert bytes.fromhex(old_key) in hub.node.trust.revoked
    finally:
        await hub.close()


def test_lost_enrolment_is_made_again(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    key = (copy.out / "bundles/S05/node.key").read_bytes()
    (copy.out / "bundles/S05/enrolment.rec").unlink()
    assert copy.run() == 0
    assert (copy.out / "bundles/S05/node.key").read_bytes() == key  # the key is kept
    record = decode_record((copy.out / "bundles/S05/enrolment.rec").read_bytes())
    assert isinstance(record.body, EnrolBody) and record.body.shelter == "S05"


def test_other_authority_rejected(
    provisioned: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = provisioned.copy(tmp_path)
    before = digest_tree(copy.out)
    copy = Provisioned(copy.inventory, copy.out, tmp_path / "another-hub")
    assert copy.run() == 2
    assert "was provisioned by authority" in capsys.readouterr().err
    assert digest_tree(copy.out) == before
    assert not (tmp_path / "another-hub").exists()  # no stray authority key was made


def test_first_run_without_hub_url_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = Provisioned(
        Path(__file__).with_name("shelters-nasukarasuyama.csv"), tmp_path / "o", tmp_path / "h"
    )
    assert made.run() == 2
    assert "--hub-url" in capsys.readouterr().err


def test_node_data_dir_as_authority_rejected(
    provisioned: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node_data = tmp_path / "node-data"
    node_data.mkdir()
    (node_data / "enrolment.rec").write_bytes(b"x")
    made = Provisioned(provisioned.inventory, tmp_path / "o", node_data)
    assert made.run("--hub-url", HUB_URL) == 2
    assert "not the hub's" in capsys.readouterr().err


def test_config_is_toml_with_a_readable_header(provisioned: Provisioned) -> None:
    text = (provisioned.out / "bundles/S07/node.toml").read_text("utf-8")
    assert text.startswith("# shelterkit node S07 白久中学校体育館")
    assert tomllib.loads(text)["node"]["hub_url"] == ""


def test_rotating_a_key_revokes_the_old_one(provisioned: Provisioned, tmp_path: Path) -> None:
    copy = provisioned.copy(tmp_path)
    folder = copy.out / "bundles/S12"
    old = json.loads((folder / "bundle.json").read_text())["node_key"]
    old_secret = (folder / "admin.token").read_bytes()
    others = {
        k: v for k, v in digest_tree(copy.out / "bundles").items() if not k.startswith("S12/")
    }

    assert copy.run("--rotate", "S12") == 0
    new = json.loads((folder / "bundle.json").read_text())["node_key"]
    assert new != old and (folder / "admin.token").read_bytes() != old_secret
    enrolment = decode_record((folder / "enrolment.rec").read_bytes())
    assert isinstance(enrolment.body, EnrolBody) and enrolment.body.node_key.hex() == new
    record = decode_record((copy.out / f"revocations/S12-{old[:16]}.rec").read_bytes())
    assert isinstance(record.body, RevokeBody) and record.body.node_key.hex() == old
    after = digest_tree(copy.out / "bundles")
    assert {k: v for k, v in after.items() if not k.startswith("S12/")} == others
    with (copy.out / "index.csv").open(encoding="utf-8", newline="") as f:
        rows = [(r["status"], r["node_key"]) for r in csv.DictReader(f) if r["id"] == "S12"]
    assert sorted(rows) == sorted([("enrolled", new), ("revoked", old)])
    # the sheet does not change: the Wi-Fi and the portal stay the same
    assert (folder / "sheet.png").read_bytes() == (
        provisioned.out / "bundles/S12/sheet.png"
    ).read_bytes()


def test_rotating_an_unknown_shelter_rejected(
    provisioned: Provisioned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = provisioned.copy(tmp_path)
    assert copy.run("--rotate", "S99") == 2
    assert "S99 is not in" in capsys.readouterr().err


def test_adding_an_uncovered_shelter_changes_only_its_relays(
    provisioned: Provisioned, tmp_path: Path
) -> None:
    copy = provisioned.copy(tmp_path)
    before = digest_tree(copy.out / "bundles")
    with copy.inventory.open("a", encoding="utf-8") as f:
        f.write("S50,山の集会所,Mountain Hall,36.6400,140.2300,community_center,60,none,7.0,no\n")
    assert copy.run() == 0
    manifest = json.loads((copy.out / "bundles/S50/bundle.json").read_text("utf-8"))
    relays = set(manifest["relays"])
    assert len(relays) == 2 and manifest["radio"] is True
    after = digest_tree(copy.out / "bundles")
    changed = {k.split("/")[0] for k, v in after.items() if before.get(k) != v}
    assert "S50" in changed and changed <= {"S50"} | relays
    for relay in relays:
        config = load_config(copy.out / "bundles" / relay / "node.toml")
        assert [r.driver for r in config.radio] == ["e220"]
