"""Start ``shelterkit`` processes by forking one that has already imported shelterkit.

Importing shelterkit (aiohttp, jinja2, textual …) takes about a second on a 2-core CI
machine, which would make 200 SIGKILL trials cost minutes of imports. The zygote imports
once; each ``start`` forks a child that runs ``shelterkit.cli.main`` exactly as the
``shelterkit`` command does, in its own process with its own SQLite connection opened after
the fork (howtocorrupt §2.6). ``kill`` sends SIGKILL and reaps the child.

Protocol on stdin/stdout, one JSON object per line:
``{"start": [argv…], "log": path}`` → ``{"pid": n}``;
``{"kill": pid}`` → ``{"status": returncode}``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

import shelterkit.cli
import shelterkit.hub.run
import shelterkit.service.run


def _child(argv: list[str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        code = shelterkit.cli.main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    if threading.active_count() != 1:  # forking a threaded process is unsafe
        raise SystemExit("zygote: threads started during import")
    for line in sys.stdin:
        command = json.loads(line)
        if "start" in command:
            pid = os.fork()
            if pid == 0:
                _child(command["start"], command["log"])
            answer: dict[str, int] = {"pid": pid}
        else:
            pid = int(command["kill"])
            try:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                answer = {"status": os.waitstatus_to_exitcode(status)}
            except (ProcessLookupError, ChildProcessError):  # gone and reaped already
                answer = {"status": -1}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
