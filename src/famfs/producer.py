"""Producing famfs files from Python, in place: `famfs.create` and `famfs.save`.

`create` reserves the file's space (Filesystem.reserve: held for this process, and freed by the
kernel if it dies), hands the producer a writable file over the reserved extents, and logs the
file only when the producer commits: data before metadata, as the command line does. Leaving a
`with` block on an exception, or dropping the writer without closing it, aborts: nothing is
logged and the space is free again.
"""

from __future__ import annotations

import os
from typing import Any

from famfs.access import FamfsFile, is_meta
from famfs.alloc import InterleaveParams
from famfs.api import _check_parent, fill_npy, npy_header, umask, writer_for
from famfs.errors import UsageError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.target import require_target
from famfs.mapping.client import Connection
from famfs.mapping.protocol import META_DIR
from famfs.mapping.wire import encode_get_daxdev, encode_get_fmap

DEFAULT_CHUNK = 2 * 1024 * 1024
"""Interleave chunk size when `nstrips` is given without `chunk` (the command line's)."""


class _ReservedTransport:
    """Serves the map of one reserved, not yet logged file, and the devices it lies on."""

    def __init__(self, relpath: str, fmap: bytes, devices: dict[int, str]) -> None:
        self.relpath = relpath
        self.fmap = fmap
        self.devices = devices

    def get_fmap(self, relpath: str) -> bytes:
        from famfs.errors import NotFoundError

        if relpath != self.relpath:
            raise NotFoundError(f"{relpath}: not the reserved file {self.relpath}")
        return self.fmap

    def get_daxdev(self, index: int) -> bytes:
        from famfs.mapping.iomap import MappingError

        path = self.devices.get(index)
        if path is None:
            raise MappingError(f"device index {index} is not a device of this filesystem")
        return encode_get_daxdev(index, path)

    def get_setup(self, relpath: str) -> bytes:
        raise UsageError("a reserved file is served through single requests only")

    def device_indices(self) -> list[int]:
        return sorted(self.devices)


class Writer(FamfsFile):
    """A new famfs file being produced: writable `view()`, `array()` and `write()` over its
    reserved extents. `commit()` (or `close()`, or leaving a `with` block normally) flushes
    the bytes and logs the file; `abort()` (or an exception out of the `with` block) frees
    the space and logs nothing. Views stay valid after either."""

    def __init__(self, fs: Filesystem, reservation: Any, relpath: str, name: str) -> None:
        self._fs = fs
        self._reservation = reservation
        self._state = "open"
        node = reservation.pending[0] if reservation.pending else reservation.files[0]
        entry = node.entry
        transport = _ReservedTransport(relpath, encode_get_fmap(entry),
                                       {ext.devindex: fs.devices.path(ext.devindex)
                                        for ext in entry.fmap.all_extents()})
        connection = Connection(transport)
        super().__init__(connection, connection.open(relpath), name, writable=True)

    @property
    def committed(self) -> bool:
        return self._state == "committed"

    def commit(self) -> None:
        """Flush the file's bytes, then log it. Once only."""
        if self._state != "open":
            raise UsageError(f"{self.name}: already {self._state}")
        try:
            self.flush()
        except BaseException:
            self.abort()
            raise
        self._state = "committing"
        try:
            self._fs.commit(self._reservation)
        except BaseException:
            self._state = "aborted"
            self._fs.abort(self._reservation)
            raise
        if self._reservation.errors:
            self._state = "aborted"
            node, problem = self._reservation.errors[0]
            raise problem.with_message(f"{self.name}: not logged: {problem}")
        self._state = "committed"

    def abort(self) -> None:
        """Free the reserved space; nothing is logged. Idempotent before a commit."""
        if self._state in ("aborted", "committed"):
            return
        self._state = "aborted"
        self._fs.abort(self._reservation)

    def close(self) -> None:
        """Commit (if neither committed nor aborted yet), then close."""
        if self.closed:
            return
        try:
            if self._state == "open":
                self.commit()
        finally:
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "open":
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - nothing to report to at collection time
                pass
        super().__del__()

    def __repr__(self) -> str:
        return f"<famfs writer {self.name!r} size={self.size} {self._state}>"


def _interleave(nstrips: int | None, chunk: int | None) -> InterleaveParams | None:
    if nstrips is None and chunk is None:
        return None
    if nstrips is None:
        raise UsageError("chunk is the interleave chunk size: give nstrips too")
    return InterleaveParams(nbuckets=nstrips, nstrips=nstrips,
                            chunk_size=DEFAULT_CHUNK if chunk is None else chunk)


def create(path: str, size: int, mode: int = 0o644, *, nstrips: int | None = None,
           chunk: int | None = None, device: int | None = None) -> Writer:
    """A new famfs file of exactly `size` bytes at `path` (DEVICE:PATH or a path in a mount),
    to be filled in place and then committed. Master only; the parent directory must exist
    and let the caller add entries. `mode` is reduced by the umask; the owner is the caller.
    With `nstrips`, the file is interleaved over that many strips, `chunk` bytes at a time
    (default 2 MiB; on a multi-device famfs, one strip per device); with `device`, it goes on
    that device of a multi-device famfs."""
    target = require_target(os.fspath(path))
    if not target.relpath:
        raise UsageError(f"{path}: names the filesystem root, not a file")
    if is_meta(target.relpath):
        raise UsageError(f"{path}: {META_DIR} is reserved for the filesystem's metadata")
    if not isinstance(size, int) or size <= 0:
        raise UsageError(f"{path}: size {size!r} must be a positive number of bytes")
    fs = writer_for(target, "create files")
    spec = NewFile(target.relpath, size, mode & ~umask() & 0o7777, os.geteuid(),
                   os.getegid(), _interleave(nstrips, chunk), device)
    with fs.device.append_lock():
        fs.refresh()
        if os.geteuid() != 0:
            _check_parent(fs, target)
        if fs.namespace.find(target.relpath) is not None:
            from famfs.errors import ExistsError

            raise ExistsError(f"{path}: exists already; famfs files are made once")
        reservation = fs.reserve([spec])
    try:
        return Writer(fs, reservation, target.relpath, str(target))
    except BaseException:
        fs.abort(reservation)
        raise


def save(path: str, array: Any, mode: int = 0o644) -> None:
    """Store `array` at `path` in NumPy's .npy format (as np.save writes it): the file is
    created at its exact size, the header and data are written in place, then it is logged.
    `famfs.load(path)` gives it back as a view."""
    import numpy as np

    arr = np.asanyarray(array)
    if arr.dtype.hasobject:
        raise UsageError(f"{path}: arrays of Python objects cannot be stored in famfs")
    header = npy_header(arr)
    with create(path, len(header) + arr.nbytes, mode) as f:
        fill_npy(f, arr, header)
