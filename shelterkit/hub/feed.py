"""Polling a CAP source at the hub: one CAP 1.2 document, or an Atom feed linking to them.

Every ``interval_s`` the hub fetches ``[hub] cap_feed_url`` with a conditional GET
(``If-None-Match`` / ``If-Modified-Since``), so an unchanged source costs one small
response. A feed's CAP documents are fetched the same way and imported through
``Hub.import_cap`` (pinned certificates, idempotent: no alert is signed twice). Sizes are
bounded (1 MiB for a feed, 64 KiB for a CAP document), every request has a timeout, and a
failure is logged once with its reason (not at every poll while the backhaul is down), then
tried again at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp

from shelterkit.cap import (
    MAX_ATOM_BYTES,
    MAX_CAP_BYTES,
    CapRefused,
    atom_cap_links,
)
from shelterkit.errors import StorageError
from shelterkit.hub.service import CapImport, Hub

log = logging.getLogger(__name__)

FEED_TIMEOUT_S = 20.0
FEED_CONNECT_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3
USER_AGENT = "shelterkit-hub (CAP 1.2 poller)"


class FetchFailed(Exception):
    """A source that could not be fetched; ``str()`` is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said identifies the version we have (for a conditional GET)."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass
class PollResult:
    """What one poll did: documents not modified, imports, refusals and failures by URL."""

    not_modified: list[str] = field(default_factory=list)
    imported: dict[str, CapImport] = field(default_factory=dict)
    refused: dict[str, CapRefused] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


async def fetch(
    session: aiohttp.ClientSession, url: str, validators: Validators, max_bytes: int
) -> tuple[bytes, Validators] | None:
    """The body and its validators, None when not modified, or ``FetchFailed``."""
    try:
        async with session.get(
            url, headers=validators.headers(), max_redirects=MAX_REDIRECTS
        ) as resp:
            if resp.status == 304:
                return None
            if resp.status != 200:
                raise FetchFailed(f"HTTP {resp.status} {resp.reason or ''}".strip())
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise FetchFailed(f"{resp.content_length} bytes, limit {max_bytes}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(f"more than {max_bytes} bytes")
                chunks.append(chunk)
            got = Validators(resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", ""))
            return b"".join(chunks), got
    except TimeoutError:
        raise FetchFailed(f"no answer within {session.timeout.total:g} s") from None
    except aiohttp.TooManyRedirects:
        raise FetchFailed(f"more than {MAX_REDIRECTS} redirects") from None
    except aiohttp.ClientConnectorError as exc:
        raise FetchFailed(f"cannot connect: {exc.os_error.strerror or exc}") from None
    except aiohttp.ClientError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None


class CapFeed:
    """Polls one CAP source for the hub (run as a hub job)."""

    def __init__(
        self, hub: Hub, url: str, interval_s: float, *, timeout_s: float = FEED_TIMEOUT_S
    ) -> None:
        self.hub = hub
        self.url = url
        self.interval_s = interval_s
        self.timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=min(timeout_s, FEED_CONNECT_TIMEOUT_S)
        )
        # Validators of the source and of the CAP documents its current feed links to.
        self.validators: dict[str, Validators] = {}
        self.trouble: dict[str, str] = {}  # URL → the failure last logged for it

    def _failed(self, result: PollResult, url: str, reason: str) -> None:
        result.failed[url] = reason
        if self.trouble.get(url) != reason:
            log.warning("CAP feed %s: %s", url, reason)
        self.trouble[url] = reason

    def _ok(self, url: str) -> None:
        if self.trouble.pop(url, None) is not None:
            log.info("CAP feed %s: reachable again", url)

    async def poll(self, session: aiohttp.ClientSession) -> PollResult:
        result = PollResult()
        try:
            got = await fetch(
                session, self.url, self.validators.get(self.url, Validators()), MAX_ATOM_BYTES
            )
        except FetchFailed as exc:
            self._failed(result, self.url, str(exc))
            return result
        self._ok(self.url)
        if got is None:
            result.not_modified.append(self.url)
            return result
        data, validators = got
        try:
            links = atom_cap_links(data, self.url)
        except CapRefused as exc:
            if exc.code != "not_atom":
                self._failed(result, self.url, str(exc))
                self.validators[self.url] = validators  # the same bad feed: said once
                return result
            links = []
            documents = [(self.url, data)]  # not a feed: a CAP document itself
            fetched = {self.url: validators}
        else:
            documents, fetched = await self._fetch_linked(session, links, result)
        outcomes = await self.hub.import_cap_batch(documents)
        retry = False
        for url, outcome in outcomes.items():
            if isinstance(outcome, CapRefused):
                result.refused[url] = outcome
                self._failed(result, url, str(outcome))
                if outcome.code == "unknown_reference":  # may be known by the next poll
                    retry = True
                    continue
            else:
                result.imported[url] = outcome
                self._ok(url)
            self.validators[url] = fetched[url]
        if links:
            # Forget the documents no longer linked (bounded by the feed's link limit).
            self.validators = {
                u: v for u, v in self.validators.items() if u in links or u == self.url
            }
            unfetched = set(result.failed) - set(result.refused)
            if not retry and not unfetched:  # else the feed is read again next poll
                self.validators[self.url] = validators
        elif not retry:
            self.validators[self.url] = validators
        return result

    async def _fetch_linked(
        self, session: aiohttp.ClientSession, links: list[str], result: PollResult
    ) -> tuple[list[tuple[str, bytes]], dict[str, Validators]]:
        documents: list[tuple[str, bytes]] = []
        fetched: dict[str, Validators] = {}
        for link in links:
            try:
                got = await fetch(
                    session, link, self.validators.get(link, Validators()), MAX_CAP_BYTES
                )
            except FetchFailed as exc:
                self._failed(result, link, str(exc))
                continue
            if got is None:
                result.not_modified.append(link)
                self._ok(link)
                continue
            documents.append((link, got[0]))
            fetched[link] = got[1]
        return documents, fetched

    async def run(self) -> None:
        log.info("CAP feed: polling %s every %g s", self.url, self.interval_s)
        headers = {"User-Agent": USER_AGENT}
        async with aiohttp.ClientSession(timeout=self.timeout, headers=headers) as session:
            while True:
                try:
                    await self.poll(session)
                except StorageError as exc:  # nothing was stored; try again next poll
                    log.warning("CAP feed %s: %s", self.url, exc)
                await asyncio.sleep(self.interval_s)
