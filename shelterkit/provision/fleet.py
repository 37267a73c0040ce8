"""``shelterkit provision``: an inventory in, one bundle per shelter out, at city hall.

The authority is the hub's data directory (``--authority``): its ``authority.key`` signs
every enrolment and revocation, and the records go into the hub's own store, so they reach
every node by sync as well as in the bundles. The authority's seed is read there and never
written anywhere else.

Re-running is idempotent: a bundle keeps its node key, enrolment record and admin secret;
every file is rewritten only when its bytes change; the plan of a shelter (its relays and
nearest neighbours) is kept while every shelter it names is still in the inventory, so
adding a shelter changes no other bundle (except that a new shelter without backhaul gives
its relays a radio). A shelter removed from the inventory has its node
key revoked: the revocation goes into the hub's store and to ``revocations/<id>.rec``, and
its bundle folder is deleted.

Output folder::

    OUT/provision.json     hub URL and authority public key this folder was made with
    OUT/index.csv          one row per shelter (and per revoked node) for city hall
    OUT/sheets.pdf         every entrance sheet, one per page, to print in one go
    OUT/bundles/<id>/      one bundle per shelter (shelterkit.provision.bundle)
    OUT/revocations/<id>.rec   signed revocation records of removed shelters
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from shelterkit.config import Config, NodeSettings, parse_config
from shelterkit.errors import InputError, ProtocolError
from shelterkit.hub.service import Hub
from shelterkit.model.keys import SEED_BYTES, Identity
from shelterkit.model.kinds import EnrolBody, RevokeBody
from shelterkit.model.record import Record, decode_record
from shelterkit.paths import DataPaths
from shelterkit.provision import bundle as b
from shelterkit.provision.inventory import Backhaul, Shelter, distance_km, read_inventory
from shelterkit.provision.sheet import SheetText, bilevel, render_sheet, sheet_pdf, sheet_png
from shelterkit.service.run import ADMIN_SECRET_BYTES

log = logging.getLogger(__name__)

STATE_FILE = "provision.json"
INDEX_FILE = "index.csv"
SHEETS_FILE = "sheets.pdf"
BUNDLES_DIR = "bundles"
REVOCATIONS_DIR = "revocations"
STATE_FORMAT = 1
# A shelter without backhaul is planned with this many relays, its nearest shelters that have
# one, which get a radio too: two, so that one broken relay does not cut it off (a planning
# choice; the radio also reaches other shelters without backhaul in between).
RELAYS_PER_UNCOVERED_SHELTER = 2
# Nearest shelters listed in each bundle for radio planning (any backhaul).
NEIGHBOURS_LISTED = 5
REVOKE_REASON = "removed from the inventory"


@dataclass(frozen=True, slots=True)
class ProvisionReport:
    out: Path
    authority_key: str
    shelters: tuple[str, ...]
    created: tuple[str, ...]  # bundles with a new node key
    changed: tuple[str, ...]  # bundles in which at least one file was rewritten
    revoked: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Previous:
    """What an existing bundle says about itself (its manifest)."""

    node_key: str
    relays: tuple[str, ...]
    neighbours: tuple[str, ...]


async def provision(
    inventory: Path,
    out: Path,
    authority_dir: Path,
    hub_url: str | None,
    wall_ms: Callable[[], int],
    random_bytes: Callable[[int], bytes] = os.urandom,
    rotate: frozenset[str] = frozenset(),
) -> ProvisionReport:
    """Write or refresh every bundle; ``rotate`` names shelters whose node key is replaced
    (the old key is revoked, the node gets a new key, enrolment and admin secret)."""
    shelters = read_inventory(inventory)
    unknown = sorted(rotate - {s.id for s in shelters})
    if unknown:
        raise InputError("invalid", "rotate", f"{unknown[0]} is not in {inventory}")
    state = _read_state(out)
    hub_url = hub_url if hub_url is not None else state.get("hub_url")
    if not hub_url:
        raise InputError("missing", "hub-url", "give --hub-url URL: the hub as nodes reach it")
    if not (hub_url.startswith("http://") or hub_url.startswith("https://")):
        raise InputError("invalid", "hub-url", f"{hub_url!r}: expected an http:// or https:// URL")
    hub_paths = DataPaths(authority_dir)
    if hub_paths.enrolment.exists() and not hub_paths.authority_key.exists():
        raise InputError(
            "invalid", "authority", f"{authority_dir} is a shelter node's data, not the hub's"
        )
    if state.get("authority_key") and not hub_paths.authority_key.exists():
        raise InputError(
            "invalid",
            "authority",
            f"{out} was provisioned by authority {state['authority_key'][:16]}…,"
            f" {authority_dir} holds no authority key",
        )
    bundles = out / BUNDLES_DIR
    try:
        bundles.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("unwritable", "out", f"cannot create {bundles}: {exc.strerror}") from None

    hub = await Hub.open(
        Config(node=NodeSettings(data_dir=str(authority_dir))), wall_ms, random_bytes
    )
    try:
        authority = hub.authority.public.hex()
        if state.get("authority_key", authority) != authority:
            raise InputError(
                "invalid",
                "authority",
                f"{out} was provisioned by authority {state['authority_key'][:16]}…, "
                f"{authority_dir} holds {authority[:16]}…",
            )
        _write_state(out, hub_url, authority)
        previous = _previous_bundles(bundles)
        by_id = {s.id: s for s in shelters}
        created: list[str] = []
        changed: list[str] = []
        plans = [
            _plan(shelter, shelters, by_id, previous.get(shelter.id), hub_url, authority)
            for shelter in shelters
        ]
        relays = {r for plan in plans for r in plan.relays}
        plans = [dataclasses.replace(p, radio=p.radio or p.shelter.id in relays) for p in plans]
        for plan in plans:
            shelter = plan.shelter
            if shelter.id in rotate:
                await _revoke_bundle_key(hub, out, bundles / shelter.id)
            is_new, is_changed = await _write_bundle(hub, bundles / shelter.id, plan, random_bytes)
            if is_new:
                created.append(shelter.id)
            if is_changed:
                changed.append(shelter.id)
        revoked = await _revoke_removed(hub, out, bundles, previous, by_id)
        _write_index(out, shelters)
        _write_sheets(out, shelters)
    finally:
        await hub.close()
    return ProvisionReport(
        out=out,
        authority_key=authority,
        shelters=tuple(s.id for s in shelters),
        created=tuple(created),
        changed=tuple(changed),
        revoked=tuple(revoked),
    )


def _read_state(out: Path) -> dict[str, str]:
    path = out / STATE_FILE
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError("invalid", "out", f"{path} is unreadable: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
        raise InputError("invalid", "out", f"{path} is not a provisioning state file")
    return {k: v for k, v in raw.items() if isinstance(v, str)}


def _write_state(out: Path, hub_url: str, authority: str) -> None:
    state = {"format": STATE_FORMAT, "hub_url": hub_url, "authority_key": authority}
    b.write_bundle_file(out, STATE_FILE, (json.dumps(state, indent=2) + "\n").encode())


def _previous_bundles(bundles: Path) -> dict[str, _Previous]:
    found: dict[str, _Previous] = {}
    for manifest in sorted(bundles.glob(f"*/{b.MANIFEST_FILE}")):
        try:
            raw = json.loads(manifest.read_text("utf-8"))
            found[manifest.parent.name] = _Previous(
                node_key=str(raw["node_key"]),
                relays=tuple(str(p) for p in raw["relays"]),
                neighbours=tuple(str(n["id"]) for n in raw["neighbours"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s is unreadable; the bundle is planned afresh", manifest)
    # a bundle folder without a manifest (interrupted first run) still has a key to revoke
    for key_file in sorted(bundles.glob(f"*/{b.NODE_KEY_FILE}")):
        sid = key_file.parent.name
        if sid not in found:
            try:
                seed = bytes.fromhex(key_file.read_text("ascii").strip())
                found[sid] = _Previous(Identity(seed).public.hex(), (), ())
            except (OSError, ValueError):
                continue
    return found


def _plan(
    shelter: Shelter,
    shelters: list[Shelter],
    by_id: dict[str, Shelter],
    previous: _Previous | None,
    hub_url: str,
    authority: str,
) -> b.NodePlan:
    others = sorted(
        (s for s in shelters if s.id != shelter.id), key=lambda s: (distance_km(shelter, s), s.id)
    )

    def still_valid(ids: tuple[str, ...], need_backhaul: bool) -> bool:
        return all(
            i in by_id and (not need_backhaul or by_id[i].backhaul is not Backhaul.NONE)
            for i in ids
        )

    uncovered = shelter.backhaul is Backhaul.NONE
    if (
        previous is not None
        and still_valid(previous.relays, True)
        and (bool(previous.relays) == uncovered)
    ):
        relays = previous.relays
    elif uncovered:
        covered = [s for s in others if s.backhaul is not Backhaul.NONE]
        relays = tuple(s.id for s in covered[:RELAYS_PER_UNCOVERED_SHELTER])
    else:
        relays = ()
    if previous is not None and previous.neighbours and still_valid(previous.neighbours, False):
        near = [by_id[i] for i in previous.neighbours]
    else:
        near = others[:NEIGHBOURS_LISTED]
    neighbours = tuple(b.Neighbour(s.id, distance_km(shelter, s), s.backhaul) for s in near)
    return b.NodePlan(
        shelter=shelter,
        hub_url="" if uncovered else hub_url,
        relays=relays,
        radio=uncovered,
        neighbours=neighbours,
        authority_keys=(authority,),
    )


async def _write_bundle(
    hub: Hub, folder: Path, plan: b.NodePlan, random_bytes: Callable[[int], bytes]
) -> tuple[bool, bool]:
    """Write or refresh one bundle; ``(new key, any file changed)``."""
    s = plan.shelter
    changed = False
    kept = _read_identity(folder / b.NODE_KEY_FILE)
    created = kept is None or kept.public in hub.node.trust.revoked
    identity = Identity.from_random(random_bytes(SEED_BYTES)) if created or kept is None else kept
    if created:
        for stale in (b.ENROLMENT_FILE, b.ADMIN_TOKEN_FILE):
            (folder / stale).unlink(missing_ok=True)
    # the key is on disk before anything is signed for it, so a crash cannot orphan an enrolment
    changed |= b.write_bundle_file(folder, b.NODE_KEY_FILE, identity.seed.hex().encode() + b"\n")

    enrolment = await _enrolment(hub, folder / b.ENROLMENT_FILE, identity, s)
    changed |= b.write_bundle_file(folder, b.ENROLMENT_FILE, enrolment.wire)

    secret = _read_secret(folder / b.ADMIN_TOKEN_FILE) or random_bytes(ADMIN_SECRET_BYTES)
    changed |= b.write_bundle_file(folder, b.ADMIN_TOKEN_FILE, secret.hex().encode() + b"\n")

    config_text = b.node_config_text(plan)
    config = parse_config(config_text)
    ssid = config.network_settings().ssid
    portal_url = config.portal.public_url or f"http://{config.portal.hostname}/"
    files: dict[str, bytes] = {
        b.NODE_KEY_FILE: identity.seed.hex().encode() + b"\n",
        b.ENROLMENT_FILE: enrolment.wire,
        b.ADMIN_TOKEN_FILE: secret.hex().encode() + b"\n",
        b.CONFIG_FILE: config_text.encode("utf-8"),
        b.HOSTNAME_FILE: (b.hostname_for(s.id) + "\n").encode(),
    }
    files.update(
        {name: text.encode("utf-8") for name, text in b.network_files(config_text).items()}
    )
    files.update(_sheet_files(folder, SheetText(s.id, s.name_ja, s.name_en, ssid, portal_url)))
    for name, data in files.items():
        if name not in (b.NODE_KEY_FILE, b.ENROLMENT_FILE, b.ADMIN_TOKEN_FILE):
            changed |= b.write_bundle_file(folder, name, data)
    manifest = b.manifest_bytes(plan, identity.public.hex(), ssid, portal_url, files)
    changed |= b.write_bundle_file(folder, b.MANIFEST_FILE, manifest)
    return created, changed


def _sheet_files(folder: Path, text: SheetText) -> dict[str, bytes]:
    """The sheet's PNG and PDF: the existing files when the manifest shows they say the same
    thing and are intact (rendering takes about a second), else new ones."""
    try:
        manifest = json.loads((folder / b.MANIFEST_FILE).read_text("utf-8"))
        said = manifest["shelter"]
        if (
            said["id"],
            said["name_ja"],
            said["name_en"],
            manifest["ssid"],
            manifest["portal_url"],
        ) == (
            text.shelter_id,
            text.name_ja,
            text.name_en,
            text.ssid,
            text.portal_url,
        ):
            kept = {name: (folder / name).read_bytes() for name in (b.SHEET_PNG, b.SHEET_PDF)}
            if all(
                hashlib.sha256(data).hexdigest() == manifest["files"][name]
                for name, data in kept.items()
            ):
                return kept
    except (OSError, ValueError, KeyError, TypeError):
        pass
    page = render_sheet(text)
    return {b.SHEET_PNG: sheet_png(page), b.SHEET_PDF: sheet_pdf([page])}


def _read_identity(path: Path) -> Identity | None:
    try:
        seed = bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError("invalid", "out", f"{path} is unreadable: {exc}") from None
    if len(seed) != SEED_BYTES:
        raise InputError("invalid", "out", f"{path} has the wrong length")
    return Identity(seed)


def _read_secret(path: Path) -> bytes | None:
    try:
        secret = bytes.fromhex(path.read_text("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return secret if len(secret) == ADMIN_SECRET_BYTES else None


async def _enrolment(hub: Hub, path: Path, identity: Identity, shelter: Shelter) -> Record:
    """The bundle's enrolment record if it still says the right thing, else a new one.

    A kept record is also given to the hub's store (a no-op when it is there), so a hub data
    directory restored from an older backup learns every enrolment again.
    """
    record = _read_record(path)
    if record is not None:
        body = record.body
        if (
            record.origin == hub.authority.public
            and isinstance(body, EnrolBody)
            and body.node_key == identity.public
            and body.shelter == shelter.id
            and body.name == shelter.name_ja
        ):
            result = await hub.node.ingest([record.wire])
            if not result.rejected:
                return record
    return await hub.enrol(identity.public, shelter.id, shelter.name_ja)


async def _revoke_bundle_key(hub: Hub, out: Path, folder: Path) -> None:
    """Revoke the key a bundle holds now (``revocations/<id>-<key>.rec``); the bundle then
    gets a new one, because its key is revoked."""
    identity = _read_identity(folder / b.NODE_KEY_FILE)
    if identity is None or identity.public in hub.node.trust.revoked:
        return
    record = await hub.revoke(identity.public, "key rotated")
    name = f"{folder.name}-{identity.public.hex()[:16]}.rec"
    b.write_bundle_file(out / REVOCATIONS_DIR, name, record.wire)
    log.info("revoked the old key of %s (%s)", folder.name, identity.public.hex()[:16])


async def _revoke_removed(
    hub: Hub, out: Path, bundles: Path, previous: dict[str, _Previous], by_id: dict[str, Shelter]
) -> list[str]:
    revoked: list[str] = []
    folder = out / REVOCATIONS_DIR
    for sid, prev in sorted(previous.items()):
        if sid in by_id:
            continue
        key = bytes.fromhex(prev.node_key)
        path = folder / f"{sid}.rec"
        existing = _read_revocation(path)
        if existing is not None and existing != key:
            path = folder / f"{sid}-{prev.node_key[:16]}.rec"
            existing = _read_revocation(path)
        if existing != key:
            record = await hub.revoke(key, REVOKE_REASON)
            folder.mkdir(parents=True, exist_ok=True)
            b.write_bundle_file(folder, path.name, record.wire)
            log.info("revoked the node of %s (%s)", sid, prev.node_key[:16])
            revoked.append(sid)
        # the revocation is on disk before the bundle (and its key) goes
        shutil.rmtree(bundles / sid)
    return revoked


def _read_record(path: Path) -> Record | None:
    try:
        return decode_record(path.read_bytes())
    except (OSError, ProtocolError):
        return None


def _read_revocation(path: Path) -> bytes | None:
    record = _read_record(path)
    if record is None or not isinstance(record.body, RevokeBody):
        return None
    return record.body.node_key


INDEX_COLUMNS = (
    "id",
    "name_ja",
    "name_en",
    "status",
    "backhaul",
    "hostname",
    "ssid",
    "portal_url",
    "hub_url",
    "relays",
    "radio",
    "node_key",
    "bundle",
)


def _write_index(out: Path, shelters: list[Shelter]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for s in shelters:
        manifest = json.loads((out / BUNDLES_DIR / s.id / b.MANIFEST_FILE).read_text("utf-8"))
        writer.writerow(
            [
                s.id,
                s.name_ja,
                s.name_en,
                "enrolled",
                s.backhaul.value,
                manifest["hostname"],
                manifest["ssid"],
                manifest["portal_url"],
                manifest["hub_url"],
                " ".join(manifest["relays"]),
                "yes" if manifest["radio"] else "no",
                manifest["node_key"],
                f"{BUNDLES_DIR}/{s.id}",
            ]
        )
    for path in sorted((out / REVOCATIONS_DIR).glob("*.rec")):
        key = _read_revocation(path)
        if key is not None:
            sid = (
                path.stem.rsplit("-", 1)[0]
                if re.search(r"-[0-9a-f]{16}$", path.stem)
                else path.stem
            )
            writer.writerow([sid, "", "", "revoked", "", "", "", "", "", "", "", key.hex(), ""])
    b.write_bundle_file(out, INDEX_FILE, buffer.getvalue().encode("utf-8"))


def _write_sheets(out: Path, shelters: list[Shelter]) -> None:
    """Every entrance sheet in one PDF, in inventory order, for printing in one go."""

    def pages() -> list[Image.Image]:
        loaded = []
        for s in shelters:
            with Image.open(out / BUNDLES_DIR / s.id / b.SHEET_PNG) as image:
                loaded.append(bilevel(image.convert("L")))  # 1 bit per pixel: 48 pages fit
        return loaded

    b.write_bundle_file(out, SHEETS_FILE, sheet_pdf(pages()))
