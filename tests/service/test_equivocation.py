"""A second record at a number its signer already used, whichever way it arrives."""

from __future__ import annotations

import logging

import pytest

from shelterkit.service.node import Node
from tests.conftest import CITY
from tests.helpers import alert


async def test_equivocation_by_sync_counted_and_logged_once(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    hlc = node.clock.now(node.wall_ms())
    # City hall's number 2 arrives from a file while its number 1 is missing; then a sync
    # peer sends number 1 and, after it, another record under number 2.
    first = alert(CITY, 2, hlc, "first")
    assert (await node.ingest([first.wire])).stored == (first,)
    one, other = alert(CITY, 1, hlc - 1, "one"), alert(CITY, 2, hlc + 1, "other")
    want = [f"equivocation by {CITY.public.hex()[:12]} at seq 2"]
    with caplog.at_level(logging.WARNING, "shelterkit.service.node"):
        assert await node.ingest_batch([one.wire, other.wire]) == (one,)
        assert [r.getMessage() for r in caplog.records if "equivocation" in r.msg] == want
        assert await node.ingest_batch([one.wire, other.wire]) == ()  # the next round
        assert (await node.ingest([other.wire])).stored == ()  # and from a file
    assert [r.getMessage() for r in caplog.records if "equivocation" in r.msg] == want
    count, reason = (await node.store.rejections())[CITY.public]
    assert (count, reason) == (1, "equivocation at seq 2")
    stored = await node.store.records_range(CITY.public, first.stream, 1, 9)
    assert [r.id for r in stored] == [one.id, first.id]
