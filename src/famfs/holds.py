"""Space holds: byte ranges of a device that a live process has reserved for files it has not
logged yet.

Data goes in before metadata: a file's space is reserved, its bytes are written, and only then is
its log entry appended. Between the first step and the last, the space belongs to no log entry,
so every allocator on the host must be told that it is taken. A hold is an open-file-description
lock (F_OFD_SETLK, a shared read lock) on the byte range of the device file: every process that
allocates on the device sees it (F_OFD_GETLK), and the kernel drops it when its holder closes the
device or dies, so a killed copy frees its space by itself. Nothing is ever stored on the device.

Only the master host allocates, so holds need only be seen by processes on that host. Holds are
looked up and taken under the device's append lock, so two allocators never take the same range.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading

from famfs.errors import DeviceError

# struct flock (Linux, 64-bit off_t): 0 l_type s16, 2 l_whence s16, 8 l_start s64,
# 16 l_len s64, 24 l_pid s32, 28 padding. l_len 0 means "to the end, however far".
_FLOCK = struct.Struct("@hhqqi4x")
assert _FLOCK.size == 32
_F_RDLCK, _F_WRLCK, _F_UNLCK = fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK
_LOCK_END = (1 << 63) - 1
"""Largest byte offset a lock query reaches."""


def _lock(fd: int, cmd: int, kind: int, start: int, length: int) -> tuple[int, int, int]:
    """One fcntl lock call; returns (l_type, l_start, l_len) as the kernel left them."""
    raw = fcntl.fcntl(fd, cmd, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    kind_out, _, start_out, length_out, _ = _FLOCK.unpack(raw)
    return kind_out, start_out, length_out


class DeviceHolds:
    """The holds of one device: this process's (taken through one descriptor of its own) and
    every other process's (found by querying the kernel). Ranges are (byte offset, bytes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._query_fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise DeviceError(f"{self.path}: cannot open for space holds: {exc.strerror}",
                              exc.errno) from None

    def hold(self, offset: int, length: int) -> None:
        """Hold [offset, offset + length) until `release` (or until this process ends)."""
        if length <= 0:
            return
        with self._lock:
            if self._fd is None:
                self._fd = self._open()
            try:
                _lock(self._fd, fcntl.F_OFD_SETLK, _F_RDLCK, offset, length)
            except OSError as exc:
                raise DeviceError(f"{self.path}: cannot hold [{offset:#x}, "
                                  f"{offset + length:#x}): {exc.strerror}", exc.errno) from None

    def release(self, offset: int, length: int) -> None:
        """Give back [offset, offset + length), or the part of it this process holds (a range
        held in one piece may be given back in several)."""
        with self._lock:
            if self._fd is None or length <= 0:
                return
            try:
                _lock(self._fd, fcntl.F_OFD_SETLK, _F_UNLCK, offset, length)
            except OSError:
                pass

    def held(self) -> list[tuple[int, int]]:
        """Every range held on the device by any process (this one included), sorted and
        merged. The caller holds the append lock, so the answer stays true until it drops it."""
        with self._lock:
            if self._query_fd is None:
                self._query_fd = self._open()
            fd = self._query_fd
        found: list[tuple[int, int]] = []
        todo = [(0, _LOCK_END)]
        while todo:
            lo, hi = todo.pop()
            if lo >= hi:
                continue
            try:
                kind, start, length = _lock(fd, fcntl.F_OFD_GETLK, _F_WRLCK, lo, hi - lo)
            except OSError as exc:
                raise DeviceError(f"{self.path}: cannot look up space holds: {exc.strerror}",
                                  exc.errno) from None
            if kind == _F_UNLCK:
                continue
            end = _LOCK_END if length == 0 else start + length
            found.append((start, end - start))
            todo.append((lo, start))
            todo.append((end, hi))
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, length in found:
            if merged and merged[-1][0] + merged[-1][1] >= start:
                prev_start, prev_len = merged[-1]
                merged[-1] = (prev_start, max(prev_len, start + length - prev_start))
            else:
                merged.append((start, length))
        return merged

    def close(self) -> None:
        """Give back every hold of this process on the device."""
        with self._lock:
            for fd in (self._fd, self._query_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._query_fd = None
