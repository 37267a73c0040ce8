"""HTTP from inside a network namespace, for the discovery tests (standard library only).

    python netns_http.py get URL               print the status, then the body
    python netns_http.py post-board URL TEXT   post TEXT on the portal's board; print the status
    python netns_http.py post-json URL TOKEN JSON   POST JSON with a staff token; print the
                                                    status, then the body

Every network wait is bounded by TIMEOUT_S.
"""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Seconds for any one request (the nodes are on the same veth or loopback).
TIMEOUT_S = 5.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _open(request: urllib.request.Request | str) -> tuple[int, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def get(url: str) -> None:
    status, body = _open(url)
    print(status)
    print(body)


def post_board(url: str, text: str) -> None:
    base = url.rstrip("/")
    status, html = _open(base + "/board")
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    if status != 200 or match is None:
        print(f"no form: {status}")
        return
    form = urllib.parse.urlencode({"csrf": match.group(1), "text": text, "category": "needs"})
    request = urllib.request.Request(base + "/board", data=form.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    print(_open(request)[0])


def post_json(url: str, token: str, body: str) -> None:
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    status, text = _open(request)
    print(status)
    print(text)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "get":
        get(args[0])
    elif command == "post-board":
        post_board(args[0], args[1])
    elif command == "post-json":
        post_json(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown command {command}")
