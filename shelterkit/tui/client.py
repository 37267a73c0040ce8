"""``AdminClient``: the TUI's only way to a node or the hub (the admin API over HTTP).

The TUI is handed a client by its app factory, so tests give it a fake with the same
methods. Results are the API's JSON objects as they arrive; errors are ``AdminError``s
that say whether the far end was unreachable or refused (and why).
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from shelterkit.admin.tokens import proof_message
from shelterkit.errors import LinkError, TrustError
from shelterkit.model.keys import verify

# One request may take this long before the node counts as unreachable (a slow radio
# relay is not involved: the TUI talks to the node or hub over the LAN or loopback).
REQUEST_TIMEOUT_S = 8.0


class AdminError(LinkError):
    """A request to the admin API failed; ``code`` says how (for the TUI's message)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class Unreachable(AdminError):
    """No answer: the node or hub is down, the address is wrong, or the network is."""


class Refused(AdminError):
    """An answer with an error: ``unauthorized``, ``expired``, ``invalid``, ``not_found`` …"""

    def __init__(self, code: str, detail: str = "", status: int = 400) -> None:
        super().__init__(code, detail)
        self.status = status

    @property
    def is_auth(self) -> bool:
        return self.code in ("unauthorized", "expired", "rate_limited")


class Admin(Protocol):
    """What the TUI needs from a node or hub; ``AdminClient`` and test fakes provide it."""

    url: str

    async def status(self) -> dict[str, Any]: ...
    async def node(self) -> dict[str, Any]: ...
    async def fleet(self) -> dict[str, Any]: ...
    async def board(self) -> dict[str, Any]: ...
    async def moderate(self, post_id: str, action: str, reason: str) -> dict[str, Any]: ...
    async def notices(self) -> dict[str, Any]: ...
    async def add_notice(self, title: dict[str, str], text: dict[str, str]) -> dict[str, Any]: ...
    async def withdraw_notice(self, notice_id: str) -> dict[str, Any]: ...
    async def shelter_status(self) -> dict[str, Any]: ...
    async def send_status(self, status: dict[str, Any]) -> dict[str, Any]: ...
    async def preview_alert(self, alert: dict[str, Any]) -> dict[str, Any]: ...
    async def issue_alert(self, alert: dict[str, Any]) -> dict[str, Any]: ...
    async def search_persons(self, query: str) -> dict[str, Any]: ...
    async def add_person(self, fields: dict[str, Any]) -> dict[str, Any]: ...
    async def correct_person(self, person_id: str, fields: dict[str, Any]) -> dict[str, Any]: ...
    async def withdraw_consent(self, person_id: str) -> dict[str, Any]: ...
    async def recent_log(self, since: int) -> dict[str, Any]: ...
    async def prove(self, node_hex: str, nonce: bytes) -> None: ...
    async def close(self) -> None: ...


class AdminClient:
    """The admin API of one node or hub at ``url``, with a bearer ``token``."""

    def __init__(self, url: str, token: str, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.url = url.rstrip("/") + "/"
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Authorization": f"Bearer {self._token}"}
            )
        try:
            async with self._session.request(method, self.url + path, json=body) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
                if resp.status >= 400:
                    if isinstance(data, dict) and "error" in data:
                        raise Refused(str(data["error"]), str(data.get("detail", "")), resp.status)
                    code = "not_found" if resp.status == 404 else "refused"
                    raise Refused(code, resp.reason or "", resp.status)
        except aiohttp.ClientError as exc:
            raise Unreachable("unreachable", _why(exc)) from None
        except TimeoutError:
            raise Unreachable("unreachable", "no answer in time") from None
        if not isinstance(data, dict):
            raise Refused("bad_answer", "the answer was not a JSON object", resp.status)
        return data

    async def prove(self, node_hex: str, nonce: bytes) -> None:
        """Have the far end sign ``nonce`` with its key; raise ``Refused("mismatch")``
        unless that key is ``node_hex``. Asked without the token: a device that only claims
        to be a node (a zeroconf advertisement is a claim) learns nothing from it."""
        url = f"{self.url}api/admin/proof?nonce={nonce.hex()}"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url) as resp,
            ):
                data = await resp.json(content_type=None) if resp.status == 200 else None
        except aiohttp.ClientError as exc:
            raise Unreachable("unreachable", _why(exc)) from None
        except TimeoutError:
            raise Unreachable("unreachable", "no answer in time") from None
        except ValueError:
            data = None
        try:
            if not isinstance(data, dict):
                raise TrustError("no proof of its key")
            signature = bytes.fromhex(str(data.get("signature", "")))
            verify(bytes.fromhex(node_hex), proof_message(nonce), signature)
        except (TrustError, ValueError) as exc:
            raise Refused("mismatch", f"not the advertised key: {exc}") from None

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "api/status")

    async def node(self) -> dict[str, Any]:
        return await self._call("GET", "api/node")

    async def fleet(self) -> dict[str, Any]:
        return await self._call("GET", "api/fleet")

    async def board(self) -> dict[str, Any]:
        return await self._call("GET", "api/board")

    async def moderate(self, post_id: str, action: str, reason: str) -> dict[str, Any]:
        assert action in ("hide", "restore")
        return await self._call("POST", f"api/board/{post_id}/{action}", {"reason": reason})

    async def notices(self) -> dict[str, Any]:
        return await self._call("GET", "api/shelter/notices")

    async def add_notice(self, title: dict[str, str], text: dict[str, str]) -> dict[str, Any]:
        return await self._call("POST", "api/shelter/notices", {"title": title, "text": text})

    async def withdraw_notice(self, notice_id: str) -> dict[str, Any]:
        path = f"api/shelter/notices/{quote(notice_id, safe='')}/withdraw"
        return await self._call("POST", path, {})

    async def shelter_status(self) -> dict[str, Any]:
        return await self._call("GET", "api/shelter/status")

    async def send_status(self, status: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "api/shelter/status", status)

    async def preview_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "api/alerts/preview", alert)

    async def issue_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "api/alerts", alert)

    async def search_persons(self, query: str) -> dict[str, Any]:
        return await self._call("GET", f"api/anpi/search?q={quote(query)}")

    async def add_person(self, fields: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "api/anpi/persons", fields)

    async def correct_person(self, person_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", f"api/anpi/persons/{quote(person_id, safe='')}", fields)

    async def withdraw_consent(self, person_id: str) -> dict[str, Any]:
        path = f"api/anpi/persons/{quote(person_id, safe='')}/consent"
        return await self._call("POST", path, {"public": False})

    async def recent_log(self, since: int) -> dict[str, Any]:
        return await self._call("GET", f"api/admin/log?since={int(since)}")


def _why(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or "connection refused"
    return type(exc).__name__
