"""The one module that knows where shelterkit keeps things on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DataPaths:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "records.sqlite"

    @property
    def node_key(self) -> Path:
        return self.root / "node.key"

    @property
    def enrolment(self) -> Path:
        """This node's enrolment record, signed by city hall (from provisioning)."""
        return self.root / "enrolment.rec"

    @property
    def authority_key(self) -> Path:
        """City hall's signing seed; only ever on the hub."""
        return self.root / "authority.key"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin.token"


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (temp file, fsync, rename, fsync dir), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
