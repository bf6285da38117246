"""Device access: an image file or a DAX character device, memory-mapped whole.

A `Device` is the bytes of one famfs device. Image files are regular files (for example under
/dev/shm); DAX devices are `/dev/daxX.Y` character devices whose size comes from sysfs.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import stat
import threading
from collections.abc import Iterator

from famfs.errors import DeviceError

DAX_ALIGN = 2 * 1024 * 1024


def _dax_size(st: os.stat_result, path: str) -> int:
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    for candidate in (f"/sys/dev/char/{major}:{minor}/size",
                      f"/sys/bus/dax/devices/{os.path.basename(path)}/size"):
        try:
            with open(candidate) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            continue
    raise DeviceError(f"{path}: character device with no DAX size in sysfs "
                      f"(is it a /dev/daxX.Y device?)")


def device_size(path: str) -> int:
    """Size in bytes of an image file or DAX device, without opening a mapping."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DeviceError(f"{path}: {exc.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    if stat.S_ISCHR(st.st_mode):
        return _dax_size(st, path)
    raise DeviceError(f"{path}: not an image file or a DAX character device")


def is_device_path(path: str) -> bool:
    """Whether `path` names something that can hold a famfs (regular file or char device)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)


IMAGE_MODE = 0o600
"""Mode of a new image file: only its owner may read the files in it (share an image with a
group by changing its group and mode, e.g. chgrp famfs IMG; chmod 0660 IMG)."""


def create_image(path: str, size: int) -> None:
    """Create (or grow) a sparse image file of `size` bytes (mode IMAGE_MODE when new)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, IMAGE_MODE)
    except OSError as exc:
        raise DeviceError(f"{path}: cannot create image: {exc.strerror}") from None
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
    except OSError as exc:
        raise DeviceError(f"{path}: cannot size image to {size} bytes: {exc.strerror}") from None
    finally:
        os.close(fd)


class Device:
    """One famfs device mapped into memory.

    `buf` is a memoryview of the whole device (read-only unless opened writable). Offsets are
    device byte offsets. The append lock serializes log appends across processes (flock on the
    device node) and across threads of this process.
    """

    def __init__(self, path: str, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        self.size = device_size(path)
        if self.size == 0:
            raise DeviceError(f"{path}: device is empty (0 bytes)")
        flags = os.O_RDWR if writable else os.O_RDONLY
        try:
            self.fd = os.open(path, flags | os.O_CLOEXEC)
        except OSError as exc:
            raise DeviceError(f"{path}: cannot open: {exc.strerror}") from None
        self.is_dax = stat.S_ISCHR(os.fstat(self.fd).st_mode)
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        try:
            self.mmap = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED, prot)
        except OSError as exc:
            os.close(self.fd)
            raise DeviceError(f"{path}: cannot map {self.size} bytes: {exc.strerror}") from None
        self.buf = memoryview(self.mmap)
        if not writable:
            self.buf = self.buf.toreadonly()
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0

    def close(self) -> None:
        """Close the device. Views of `buf` still alive keep the mapping; it goes when the
        last of them does."""
        if self.fd < 0:
            return
        with contextlib.suppress(BufferError):
            self.buf.release()
        os.close(self.fd)
        self.fd = -1
        with contextlib.suppress(BufferError):
            self.mmap.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, offset: int, length: int) -> bytes:
        """Copy of `length` bytes at `offset`; raises DeviceError outside the device."""
        self.check_range(offset, length)
        return bytes(self.buf[offset:offset + length])

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Write `data` at `offset` through the mapping; raises DeviceError outside the device
        or if read-only. For bytes whose backing may be missing, use `pwrite`."""
        if not self.writable:
            raise DeviceError(f"{self.path}: opened read-only")
        self.check_range(offset, len(data))
        self.buf[offset:offset + len(data)] = data

    def pwrite(self, offset: int, data: bytes | memoryview) -> None:
        """Write `data` at `offset` with pwrite(2): a full backing store or a truncated image
        is a DeviceError (ENOSPC, EIO), never a fault."""
        if not self.writable:
            raise DeviceError(f"{self.path}: opened read-only")
        view = memoryview(data).cast("B")
        self.check_range(offset, len(view))
        if self.is_dax:  # DAX devices take no write(2); their memory is always there
            self.buf[offset:offset + len(view)] = view
            return
        done = 0
        while done < len(view):
            try:
                n = os.pwrite(self.fd, view[done:], offset + done)
            except OSError as exc:
                raise DeviceError(f"{self.path}: cannot write {len(view) - done} bytes at "
                                  f"{offset + done:#x}: {exc.strerror}", exc.errno) from None
            if n <= 0:
                raise DeviceError(f"{self.path}: wrote nothing at {offset + done:#x}")
            done += n

    def check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise DeviceError(f"{self.path}: range [{offset:#x}, {offset + length:#x}) is "
                              f"outside the device ({self.size:#x} bytes)")

    def flush(self, offset: int = 0, length: int | None = None) -> None:
        """Make [offset, offset+length) durable and visible to other hosts (msync)."""
        if not self.writable:
            return
        if length is None:
            length = self.size - offset
        start = offset - offset % mmap.PAGESIZE
        self.mmap.flush(start, length + (offset - start))

    @contextlib.contextmanager
    def append_lock(self) -> Iterator[None]:
        """Exclusive lock for log appends, across processes and threads; reentrant."""
        with self._thread_lock:
            if self._lock_depth == 0:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None
