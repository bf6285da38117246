"""Filesystems opened once per device, for commands that take many famfs files."""

from __future__ import annotations

import os
import threading

from famfs.fs.filesystem import Filesystem


class OpenedFilesystems:
    """Each device opened on first use (by its real path) and closed together; safe to share
    between threads."""

    def __init__(self, writable: bool) -> None:
        self.writable = writable
        self._open: dict[str, Filesystem] = {}
        self._lock = threading.Lock()

    def get(self, device: str) -> Filesystem:
        key = os.path.realpath(device)
        with self._lock:
            fs = self._open.get(key)
            if fs is None:
                fs = self._open[key] = Filesystem(device, writable=self.writable)
            return fs

    def close(self) -> None:
        for fs in self._open.values():
            fs.close()
        self._open.clear()

    def __enter__(self) -> OpenedFilesystems:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
