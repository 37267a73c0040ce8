"""Portal throughput and latency beside nginx serving the same bytes (issue 2 acceptance).

Starts a seeded demo node, fetches the home page as a phone gets it (gzip) and the Android
probe, then serves the same bytes from nginx (one worker) in the same run. The server under
test is pinned to one CPU and wrk to another, everything on 127.0.0.1. Prints one table and
whether the targets are met; exits 1 when a target is missed.

    .venv/bin/python bench/portal.py            # about 1.5 minutes on 2 vCPUs
    .venv/bin/python bench/portal.py --duration 3

Needs the Debian packages nginx-light (or nginx) and wrk, and util-linux's taskset.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Targets from issue 2 (Acceptance).
# RFC 6928 initial window: 10 segments x 1460 B = 14,600 B in the first round trip; keep
# the first view within 14 KiB so it arrives in one round trip (anchors-tech §4.1).
FIRST_VIEW_MAX_BYTES = 14 * 1024
P99_MAX_MS_AT_512 = 100.0
MIN_SHARE_OF_NGINX = 0.25

CONNECTIONS = (64, 512)
# 512 connections for wrk plus as many for the server, with room for files and pipes.
NOFILE_WANTED = 4096
READY_DEADLINE_S = 20.0
STOP_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 5.0
WARMUP_S = 1
PROBE_PATH = "/generate_204"

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
worker_rlimit_nofile {nofile};
events {{
    worker_connections {nofile};
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        root {tmp}/www;
        location = / {{
            gzip_static on;
            gzip_vary on;
            types {{ }}
            default_type "text/html; charset=utf-8";
            add_header Cache-Control "no-cache, private";
            add_header Content-Security-Policy "{csp}";
            add_header X-Content-Type-Options nosniff;
            add_header Referrer-Policy no-referrer;
            try_files /index.html =404;
        }}
        location = {probe} {{
            add_header Cache-Control no-store;
            return 204;
        }}
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    bad_status: int


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    headers: dict[str, str]
    body: bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int, path: str, method: str = "GET") -> Page:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        return Page(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError):
            fetch(port, path)
            return
        time.sleep(0.05)  # readiness poll, bounded by the deadline
    raise SystemExit(f"server on port {port} not ready within {READY_DEADLINE_S:.0f} s")


@contextlib.contextmanager
def running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and p50 and p99):
        raise SystemExit(f"cannot read wrk output:\n{output}")
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        errors=sum(int(n) for n in sock.groups()) if sock else 0,
        bad_status=int(bad.group(1)) if bad else 0,
    )


def run_wrk(url: str, connections: int, duration_s: int, cpu: int) -> WrkResult:
    argv = [
        "taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
        "--timeout", "5s", "--latency", "-H", "Accept-Encoding: gzip", url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30, check=True)
    return parse_wrk(done.stdout)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(NOFILE_WANTED, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return max(soft, wanted)


def require_tools() -> None:
    missing = [t for t in ("nginx", "wrk", "taskset") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (apt-get install nginx-light wrk)")
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 CPUs: one for the server, one for wrk")


def fmt_ms(ms: float) -> str:
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    require_tools()
    nofile = raise_nofile()
    server_cpu, client_cpu = str(args.server_cpu), args.client_cpu

    with tempfile.TemporaryDirectory(prefix="shelterkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user when started by root
        node_port, nginx_port = free_port(), free_port()
        node_argv = [
            "taskset", "-c", server_cpu, sys.executable, "-m", "shelterkit.cli",
            "demo", "--port", str(node_port), "--data", str(tmp / "node"),
        ]  # fmt: skip
        with running(node_argv, tmp / "node.log") as node:
            wait_ready(node_port, node, "/healthz")

            # What a phone gets first: the welcome variant of home, before acceptance.
            first = fetch(node_port, "/")
            if first.status != 200 or first.headers.get("content-encoding") != "gzip":
                raise SystemExit(f"home: {first.status} {first.headers}")
            html = gzip.decompress(first.body)
            if re.search(rb"<link[^>]+stylesheet|<script[^>]+src|<img", html):
                raise SystemExit("first view loads sub-resources; this benchmark counts HTML only")
            before = fetch(node_port, PROBE_PATH)
            accepted = fetch(node_port, "/accept", "POST")
            after = fetch(node_port, PROBE_PATH)
            if (before.status, accepted.status, after.status) != (302, 303, 204):
                raise SystemExit(
                    f"probe {before.status}, accept {accepted.status}, probe {after.status}"
                )
            # From here on 127.0.0.1 is accepted: wrk gets the home page without the
            # welcome box, and nginx serves exactly those bytes.
            home = fetch(node_port, "/")
            www = tmp / "www"
            www.mkdir()
            (www / "index.html").write_bytes(gzip.decompress(home.body))
            (www / "index.html.gz").write_bytes(home.body)
            conf = tmp / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    tmp=tmp,
                    port=nginx_port,
                    probe=PROBE_PATH,
                    nofile=nofile,
                    csp=home.headers.get("content-security-policy", ""),
                )
            )
            nginx_argv = ["taskset", "-c", server_cpu, "nginx", "-p", str(tmp), "-c", str(conf)]
            with running(nginx_argv, tmp / "nginx.log") as nginx:
                wait_ready(nginx_port, nginx, PROBE_PATH)
                served = fetch(nginx_port, "/")
                if served.body != home.body or served.headers.get("content-encoding") != "gzip":
                    raise SystemExit("nginx does not serve the node's gzip bytes")
                if fetch(nginx_port, PROBE_PATH).status != 204:
                    raise SystemExit("nginx probe location does not answer 204")

                servers = {"node": node_port, "nginx": nginx_port}
                for port in servers.values():
                    run_wrk(f"http://127.0.0.1:{port}/", 64, WARMUP_S, client_cpu)
                results: dict[tuple[str, str, int], WrkResult] = {}
                for endpoint in ("/", PROBE_PATH):
                    for conns in CONNECTIONS:
                        for name, port in servers.items():
                            url = f"http://127.0.0.1:{port}{endpoint}"
                            results[(endpoint, name, conns)] = run_wrk(
                                url, conns, args.duration, client_cpu
                            )

    return report(results, len(first.body), len(html), len(home.body), args.duration)


def report(
    results: dict[tuple[str, str, int], WrkResult],
    first_gz: int,
    first_raw: int,
    home_gz: int,
    duration_s: int,
) -> int:
    print(
        f"\nwrk -t1 -cN -d{duration_s}s --latency -H 'Accept-Encoding: gzip', keep-alive, "
        "server on one CPU, wrk on another, 127.0.0.1\n"
    )
    header = (
        f"{'endpoint':<14}{'conns':>6}{'node req/s':>12}{'nginx req/s':>13}{'node/nginx':>12}"
        f"{'node p50':>10}{'node p99':>10}{'nginx p50':>11}{'nginx p99':>11}"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    for endpoint in ("/", PROBE_PATH):
        for conns in CONNECTIONS:
            n, x = results[(endpoint, "node", conns)], results[(endpoint, "nginx", conns)]
            ratio = n.requests_per_s / x.requests_per_s
            label = "/ (gzip)" if endpoint == "/" else endpoint
            print(
                f"{label:<14}{conns:>6}{n.requests_per_s:>12,.0f}{x.requests_per_s:>13,.0f}"
                f"{ratio:>11.0%} {fmt_ms(n.p50_ms):>9} {fmt_ms(n.p99_ms):>9}"
                f" {fmt_ms(x.p50_ms):>10} {fmt_ms(x.p99_ms):>10}"
            )
            if ratio < MIN_SHARE_OF_NGINX:
                failures.append(f"{label} at {conns}: node is {ratio:.0%} of nginx")
            if conns == 512 and n.p99_ms > P99_MAX_MS_AT_512:
                failures.append(f"{label} at 512: p99 {n.p99_ms:.0f} ms")
            for name, r in (("node", n), ("nginx", x)):
                if r.errors or r.bad_status:
                    failures.append(
                        f"{label} at {conns}: {name} had {r.errors} socket errors, "
                        f"{r.bad_status} bad statuses"
                    )
    print("(latencies in ms)\n")
    print(
        f"first view (home before acceptance, HTML with inline CSS): {first_gz:,} B gzip "
        f"({first_raw:,} B raw); home after acceptance: {home_gz:,} B gzip"
    )
    if first_gz > FIRST_VIEW_MAX_BYTES:
        failures.append(f"first view {first_gz:,} B > {FIRST_VIEW_MAX_BYTES:,} B")
    print(
        f"targets: first view <= {FIRST_VIEW_MAX_BYTES:,} B gzip; node p99 <= "
        f"{P99_MAX_MS_AT_512:.0f} ms at 512 connections; node >= {MIN_SHARE_OF_NGINX:.0%} "
        "of nginx req/s"
    )
    if failures:
        print("targets MISSED:\n  " + "\n  ".join(failures))
        return 1
    print("targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
