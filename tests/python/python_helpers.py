"""Helpers for the Python API tests: set-up writes, throw-away users, shared images."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from famfs.access import release_connections
from famfs.fs.filesystem import Filesystem
from famfs.mapping.files import write_file


def put(fs: Filesystem, relpath: str, data: bytes, **attrs: Any) -> None:
    """Log `relpath` holding `data` (set-up only: the bytes go in right after the entry)."""
    node = fs.create_file(relpath, len(data), **attrs)
    write_file(fs, node, 0, data)
    fs.flush_file(node)


@dataclass(frozen=True)
class User:
    """A throw-away local user: `run(fn, *args)` calls fn in a forked child that runs as this
    user (no supplementary groups) on this process's host, and returns its result or raises
    its exception."""

    name: str
    uid: int
    gid: int

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        from famfs.fs.roles import system_uuid

        host = str(system_uuid())
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                release_connections()
                os.environ["FAMFS_SYSTEM_UUID"] = host
                os.setgroups([])
                os.setgid(self.gid)
                os.setuid(self.uid)
                try:
                    outcome: tuple[str, Any] = ("ok", fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the parent
                    outcome = ("raised", exc)
                try:
                    blob = pickle.dumps(outcome)
                except Exception as exc:  # noqa: BLE001
                    blob = pickle.dumps(("raised", RuntimeError(f"unpicklable: {exc!r}")))
                with os.fdopen(write_end, "wb") as out:
                    out.write(blob)
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as inp:
            blob = inp.read()
        os.waitpid(pid, 0)
        kind, value = pickle.loads(blob)
        if kind == "raised":
            raise value
        return value



def share_with(image: str, user: User) -> None:
    """Let `user`'s group read and write the image (as an administrator shares one)."""
    os.chown(image, 0, user.gid)
    os.chmod(image, 0o660)
