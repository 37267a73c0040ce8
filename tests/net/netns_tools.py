"""Small programs the namespace tests run inside the "node" and "phone" namespaces.

    python netns_tools.py serve ADDRESS PORT NAME      answer every request with NAME
    python netns_tools.py dns NAME SERVER [TYPE]       print rcode=N, then the A records
    python netns_tools.py http HOST PORT PATH          print status and body of a GET
    python netns_tools.py connect HOST PORT            print ok | refused | timeout
    python netns_tools.py hold HOST PORT COUNT         open COUNT connections, print results

Standard library only, so they run under ``ip netns exec`` with any interpreter.
"""

from __future__ import annotations

import http.client
import http.server
import random
import socket
import struct
import sys
import time

# Every network wait in these helpers is bounded (seconds).
TIMEOUT_S = 3.0


class _Answer(http.server.BaseHTTPRequestHandler):
    server_version = "standin"
    name = "standin"

    def do_GET(self) -> None:
        body = f"{self.name} host={self.headers.get('Host', '')} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(address: str, port: int, name: str) -> None:
    _Answer.name = name
    server = http.server.ThreadingHTTPServer((address, port), _Answer)
    print("ready", flush=True)
    server.serve_forever()


def dns(name: str, server: str, qtype: int = 1) -> None:
    query_id = random.randrange(1 << 16)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    query = header + labels + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.sendto(query, (server, 53))
        reply, _ = sock.recvfrom(4096)
    rid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    assert rid == query_id, "reply to another query"
    print(f"rcode={flags & 0xF}")
    pos = 12
    for _ in range(qd):
        pos = _skip_name(reply, pos) + 4
    for _ in range(an):
        pos = _skip_name(reply, pos)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", reply[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            print(socket.inet_ntoa(reply[pos : pos + 4]))
        pos += length


def _skip_name(data: bytes, pos: int) -> int:
    while data[pos] != 0:
        if data[pos] & 0xC0 == 0xC0:
            return pos + 2
        pos += data[pos] + 1
    return pos + 1


def get(host: str, port: int, path: str) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    conn.request("GET", path, headers={"Host": "connectivitycheck.gstatic.com"})
    response = conn.getresponse()
    print(response.status)
    print(response.read().decode())


def _connect(host: str, port: int) -> tuple[str, socket.socket | None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT_S)
    try:
        sock.connect((host, port))
    except ConnectionRefusedError:
        sock.close()
        return "refused", None
    except (TimeoutError, OSError):
        sock.close()
        return "timeout", None
    return "ok", sock


def connect(host: str, port: int) -> None:
    result, sock = _connect(host, port)
    if sock is not None:
        sock.close()
    print(result)


def hold(host: str, port: int, count: int) -> None:
    held = []
    for _ in range(count):
        result, sock = _connect(host, port)
        print(result, flush=True)
        if sock is not None:
            held.append(sock)
        time.sleep(0.05)  # stay under the new-connection rate limit
    for sock in held:
        sock.close()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "serve":
        serve(args[0], int(args[1]), args[2])
    elif command == "dns":
        dns(args[0], args[1], int(args[2]) if len(args) > 2 else 1)
    elif command == "http":
        get(args[0], int(args[1]), args[2])
    elif command == "connect":
        connect(args[0], int(args[1]))
    elif command == "hold":
        hold(args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown command {command}")
