"""``AdminClient`` against a real node's admin API: answers, refusals, no answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shelterkit.admin.tokens import mint_token, token_node
from shelterkit.model.kinds import PostBody
from shelterkit.service.node import Node
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from shelterkit.tui.client import AdminClient, Refused, Unreachable
from tests.conftest import free_port
from tests.helpers import identity

SECRET = b"c" * 32


@pytest.fixture
async def server(node: Node) -> AsyncIterator[TestServer]:
    async with TestServer(peer_app(node, SECRET, Role.NODE)) as srv:
        yield srv


def url(server: TestServer) -> str:
    return str(server.make_url("/"))


async def test_client_speaks_the_node_api(server: TestServer, node: Node) -> None:
    post = await node.publish(PostBody(text="hello"))
    client = AdminClient(url(server), mint_token(SECRET, time.time()))
    try:
        assert (await client.status())["shelter"] == "S01"
        assert (await client.node())["records"] == node.record_count
        (row,) = (await client.board())["posts"]
        assert row["id"] == post.id.hex()
        await client.moderate(post.id.hex(), "hide", "test")
        assert (await client.board())["posts"][0]["hidden"]
        added = await client.add_notice({"ja": "給水"}, {})
        await client.withdraw_notice(added["notice_id"])
        assert (await client.notices())["notices"][0]["withdrawn"]
        await client.send_status({"headcount": 5, "needs": {"water": "low"}})
        assert (await client.shelter_status())["status"]["needs"]["water"] == "low"
        with pytest.raises(Refused) as refused:
            await client.fleet()  # a node is not a hub
        assert refused.value.code == "not_found"
        with pytest.raises(Refused) as refused:
            await client.send_status({"headcount": -5})
        assert refused.value.code == "invalid" and "headcount" in refused.value.detail
    finally:
        await client.close()


async def test_client_reads_the_recent_log_incrementally(node: Node) -> None:
    import logging

    from shelterkit.admin.logring import LogRing

    ring = LogRing()
    ring.attach(logging.getLogger("shelterkit.test_client"))
    try:
        async with TestServer(peer_app(node, SECRET, Role.NODE, ring)) as srv:
            client = AdminClient(url(srv), mint_token(SECRET, time.time()))
            try:
                logging.getLogger("shelterkit.test_client").warning("uplink down")
                first = await client.recent_log(0)
                assert [x["text"] for x in first["lines"]] == ["uplink down"]
                assert first["lines"][0]["level"] == "warning"
                logging.getLogger("shelterkit.test_client").error("disk full")
                again = await client.recent_log(first["last"])
                assert [x["text"] for x in again["lines"]] == ["disk full"]
            finally:
                await client.close()
    finally:
        ring.detach()


async def test_wrong_and_expired_tokens_are_refused(server: TestServer) -> None:
    for token, code in (
        ("", "unauthorized"),
        (mint_token(b"x" * 32, time.time()), "unauthorized"),
        (mint_token(SECRET, time.time() - 3600, ttl_s=60), "expired"),
    ):
        client = AdminClient(url(server), token)
        try:
            with pytest.raises(Refused) as refused:
                await client.status()
            assert refused.value.code == code and refused.value.is_auth
        finally:
            await client.close()


async def test_nobody_listening_is_unreachable() -> None:
    client = AdminClient(f"http://127.0.0.1:{free_port()}/", "t", timeout_s=5)
    try:
        with pytest.raises(Unreachable):
            await client.status()
    finally:
        await client.close()


async def test_a_token_that_names_its_node_opens_that_node_only(
    server: TestServer, node: Node
) -> None:
    own = node.identity.public
    named = mint_token(SECRET, time.time(), node=own)
    assert token_node(named) == own.hex()[:16] and token_node(mint_token(SECRET, 0)) is None
    other = mint_token(SECRET, time.time(), node=bytes(32))  # same secret, another node
    renamed = named.rsplit(".", 1)[0] + "." + "0" * 16  # the name changed after minting
    for token, opens in ((named, True), (other, False), (renamed, False)):
        client = AdminClient(url(server), token)
        try:
            if opens:
                assert (await client.node())["node"] == own.hex()
            else:
                with pytest.raises(Refused) as refused:
                    await client.node()
                assert refused.value.code == "unauthorized"
        finally:
            await client.close()


async def test_the_node_proves_its_key_before_any_token_is_sent(
    server: TestServer, node: Node
) -> None:
    client = AdminClient(url(server), "no token at all")  # the proof needs none
    try:
        await client.prove(node.identity.public.hex(), b"\x07" * 32)  # signs: no error
        with pytest.raises(Refused) as refused:
            await client.prove(identity("impostor").public.hex(), b"\x07" * 32)
        assert refused.value.code == "mismatch"
    finally:
        await client.close()
    async with aiohttp.ClientSession() as session:
        for bad in ("", "zz" * 32, "ab" * 31, "AB" * 32, "ab" * 33):
            async with session.get(url(server) + f"api/admin/proof?nonce={bad}") as resp:
                assert resp.status == 400, bad
                assert (await resp.json())["error"] == "invalid"


async def test_proof_from_something_that_is_not_a_node_is_a_mismatch() -> None:
    async def not_a_node(request: web.Request) -> web.Response:
        return web.json_response({"node": "ab" * 32, "signature": "00" * 64})

    app = web.Application()
    app.router.add_get("/api/admin/proof", not_a_node)
    async with TestServer(app) as srv:
        client = AdminClient(str(srv.make_url("/")), "t")
        try:
            with pytest.raises(Refused) as refused:
                await client.prove("ab" * 32, b"\x01" * 32)
            assert refused.value.code == "mismatch"
        finally:
            await client.close()
