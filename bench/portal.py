"""Portal throughput and latency beside nginx serving the same bytes (issue 2 acceptance).

Starts the demo city (hub and four shelters in one process; the portal measured is shelter
S01's, showing the hub's alert, a notice and two posts), fetches the home page as a phone
gets it (gzip) and the Android probe, then serves the same bytes from nginx (one worker) in
the same run, and from a bare aiohttp server (``aiohttp_floor.py``: the least an aiohttp
handler costs per request). The node's listener answers the probe and the cached home page
in front of aiohttp (``shelterkit/portal/front.py``), so the floor shows what that front
saves. The server under test is pinned to
one CPU and wrk to another, everything on 127.0.0.1. Each cell runs several times,
interleaved, and the fastest run is reported. Prints one table and whether the targets are
met; exits 1 when a target is missed.

    .venv/bin/python bench/portal.py                          # about 2 min 40 s
    .venv/bin/python bench/portal.py --duration 8 --repeat 1  # one long run per cell

Needs the Debian packages nginx-light (or nginx) and wrk, and util-linux's taskset.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import random
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
READY_DEADLINE_S = 30.0
# `shelterkit demo --port P` puts the hub on P, shelter S01's portal on P+1, and uses
# ports up to P+14 (portals and their peer ports; shelterkit/demo.py).
DEMO_S01_OFFSET = 1
DEMO_PORT_SPAN = 15
# The demo's alert, issued at the hub, reaches S01 over sync within seconds.
DEMO_ALERT_JA = "大雨警報".encode()
STOP_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 5.0
WARMUP_S = 1
PROBE_PATH = "/generate_204"
ENDPOINTS = ("/", PROBE_PATH)
# One-minute load average above which other work is probably competing for the CPUs.
LOAD_WARNING = 0.5

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
    requests: int
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


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(span: int) -> int:
    for _ in range(100):
        base = random.randrange(20_000, 60_000)
        if all(_bindable(base + i) for i in range(span)):
            return base
    raise SystemExit(f"no {span} free consecutive ports on 127.0.0.1")


def fetch(port: int, path: str, method: str = "GET") -> Page:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        return Page(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def wait_ready(
    port: int, proc: subprocess.Popen[bytes], path: str, needle: bytes | None = None
) -> None:
    """Wait until ``path`` answers (and, given ``needle``, its gzip body contains it)."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError):
            page = fetch(port, path)
            if needle is None:
                return
            body = page.body
            if page.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if page.status == 200 and needle in body:
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
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (total and rps and p50 and p99):
        raise SystemExit(f"cannot read wrk output:\n{output}")
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (proc(5): fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Cell:
    """The best of the repeated runs of one server, endpoint and connection count."""

    best: WrkResult
    slowest_requests_per_s: float
    cpu_us_per_request: float | None
    errors: int  # socket errors and non-2xx/3xx answers, over all runs


def measure(
    servers: dict[str, tuple[int, int | None]], duration_s: int, repeat: int, client_cpu: int
) -> dict[tuple[str, str, int], Cell]:
    """Run every cell ``repeat`` times, interleaved, so a burst of other work on the
    machine hits node and nginx alike; keep each cell's fastest run."""
    runs: dict[tuple[str, str, int], list[tuple[WrkResult, float | None]]] = {}
    for _ in range(repeat):
        for endpoint in ENDPOINTS:
            for conns in CONNECTIONS:
                for name, (port, pid) in servers.items():
                    before = cpu_seconds(pid) if pid else None
                    result = run_wrk(
                        f"http://127.0.0.1:{port}{endpoint}", conns, duration_s, client_cpu
                    )
                    cpu_us = None
                    if pid and before is not None and result.requests:
                        cpu_us = (cpu_seconds(pid) - before) / result.requests * 1e6
                    runs.setdefault((endpoint, name, conns), []).append((result, cpu_us))
    cells = {}
    for key, results in runs.items():
        best, cpu_us = max(results, key=lambda r: r[0].requests_per_s)
        slowest = min(r.requests_per_s for r, _ in results)
        errors = sum(r.errors + r.bad_status for r, _ in results)
        cells[key] = Cell(best, slowest, cpu_us, errors)
    return cells


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


def machine_line() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    load = os.getloadavg()[0]
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs ({model}); "
        f"Python {sys.version.split()[0]}, aiohttp {aiohttp_version()}, "
        f"{nginx.removeprefix('nginx version: ')}; load average {load:.2f} before the run"
    )


def aiohttp_version() -> str:
    from importlib.metadata import version

    return version("aiohttp")


def fmt_ms(ms: float) -> str:
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per cell; the fastest is reported"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    require_tools()
    nofile = raise_nofile()
    print(machine_line(), flush=True)
    if os.getloadavg()[0] > LOAD_WARNING:
        print("warning: the machine is busy; figures will be low and noisy", flush=True)
    server_cpu, client_cpu = str(args.server_cpu), args.client_cpu

    with tempfile.TemporaryDirectory(prefix="shelterkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user when started by root
        demo_port = free_port_block(DEMO_PORT_SPAN)
        node_port, nginx_port = demo_port + DEMO_S01_OFFSET, free_port()
        node_argv = [
            "taskset", "-c", server_cpu, sys.executable, "-m", "shelterkit.cli",
            "demo", "--port", str(demo_port), "--data", str(tmp / "node"),
        ]  # fmt: skip
        with running(node_argv, tmp / "node.log") as node:
            wait_ready(node_port, node, "/", DEMO_ALERT_JA)

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

                floor_port = free_port()
                floor_argv = [
                    "taskset", "-c", server_cpu, sys.executable,
                    str(Path(__file__).with_name("aiohttp_floor.py")),
                    str(floor_port), str(www / "index.html.gz"), PROBE_PATH,
                ]  # fmt: skip
                with running(floor_argv, tmp / "floor.log") as floor:
                    wait_ready(floor_port, floor, PROBE_PATH)
                    if fetch(floor_port, "/").body != home.body:
                        raise SystemExit("the aiohttp floor does not serve the node's bytes")
                    # taskset execs the server, so the pid is the node's own process.
                    servers = {
                        "node": (node_port, node.pid),
                        "nginx": (nginx_port, None),
                        "floor": (floor_port, floor.pid),
                    }
                    for port, _ in servers.values():
                        run_wrk(f"http://127.0.0.1:{port}/", 64, WARMUP_S, client_cpu)
                    cells = measure(servers, args.duration, args.repeat, client_cpu)

    sizes = (len(first.body), len(html), len(home.body))
    return report(cells, sizes, args.duration, args.repeat)


def report(
    cells: dict[tuple[str, str, int], Cell],
    sizes: tuple[int, int, int],
    duration_s: int,
    repeat: int,
) -> int:
    first_gz, first_raw, home_gz = sizes
    print(
        f"\nwrk -t1 -cN -d{duration_s}s --latency -H 'Accept-Encoding: gzip', keep-alive; "
        f"server on CPU 0, wrk on CPU 1, 127.0.0.1; fastest of {repeat} interleaved runs\n"
    )
    header = (
        f"{'endpoint':<14}{'conns':>6}{'node req/s':>12}{'nginx req/s':>13}{'node/nginx':>12}"
        f"{'node p50':>10}{'node p99':>10}{'nginx p50':>11}{'nginx p99':>11}{'node CPU/req':>14}"
        f"{'floor req/s':>13}{'node/floor':>12}"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    spread: list[str] = []
    for endpoint in ENDPOINTS:
        for conns in CONNECTIONS:
            node, nginx = cells[(endpoint, "node", conns)], cells[(endpoint, "nginx", conns)]
            floor = cells[(endpoint, "floor", conns)].best
            n, x = node.best, nginx.best
            ratio = n.requests_per_s / x.requests_per_s
            label = "/ (gzip)" if endpoint == "/" else endpoint
            cpu = f"{node.cpu_us_per_request:.0f} µs" if node.cpu_us_per_request else "?"
            print(
                f"{label:<14}{conns:>6}{n.requests_per_s:>12,.0f}{x.requests_per_s:>13,.0f}"
                f"{ratio:>11.0%} {fmt_ms(n.p50_ms):>9} {fmt_ms(n.p99_ms):>9}"
                f" {fmt_ms(x.p50_ms):>10} {fmt_ms(x.p99_ms):>10}{cpu:>14}"
                f"{floor.requests_per_s:>13,.0f}{n.requests_per_s / floor.requests_per_s:>11.0%}"
            )
            spread.append(
                f"{label} at {conns}: node {node.slowest_requests_per_s:,.0f}–"
                f"{n.requests_per_s:,.0f}, nginx {nginx.slowest_requests_per_s:,.0f}–"
                f"{x.requests_per_s:,.0f}"
            )
            if ratio < MIN_SHARE_OF_NGINX:
                failures.append(f"{label} at {conns}: node is {ratio:.0%} of nginx")
            if conns == 512 and n.p99_ms > P99_MAX_MS_AT_512:
                failures.append(f"{label} at 512: node p99 {n.p99_ms:.0f} ms")
            for name, cell in (("node", node), ("nginx", nginx)):
                if cell.errors:
                    failures.append(f"{label} at {conns}: {name} had {cell.errors} errors")
    print(
        "(latencies in ms; floor: bench/aiohttp_floor.py, a bare aiohttp server on uvloop"
        " with the same bytes, on the same CPU)"
    )
    print("req/s range over the runs: " + "; ".join(spread) + "\n")
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
