"""Direct access to famfs files: `famfs.open`, reads and writes with no server round trip, and
a zero-copy view of a whole file as one contiguous range of memory.

A file is named as every command names it (famfs.fs.target): `DEVICE:PATH` (served in this
process from the device's log) or a path inside a famfs mount (maps fetched through the
mount's extended attributes). Its map is fetched once per process and cached on the inode.

The view reserves one 2 MiB-aligned address range (PROT_NONE), then maps each run of the file
that is contiguous on a device into it, side by side in file order (MAP_FIXED | MAP_SHARED from
the device), so the file's bytes appear contiguous however they are laid out on the devices.
"""

from __future__ import annotations

import ctypes
import errno
import io
import mmap
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from famfs.errors import AccessError, FamfsError, IsDirectoryError, UsageError
from famfs.fs.target import Target, require_target
from famfs.mapping.client import Connection, Inode
from famfs.mapping.iomap import MappingError
from famfs.mapping.transport import InProcessTransport, XattrTransport
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RW, round_up

if TYPE_CHECKING:
    import numpy as np

VIEW_ALIGN = 2 * 1024 * 1024
"""The view's base address is a multiple of this (so DAX devices can use 2 MiB pages)."""
PAGE = mmap.PAGESIZE

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_long]
_munmap = _libc.munmap
_munmap.restype = ctypes.c_int
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_msync = _libc.msync
_msync.restype = ctypes.c_int
_msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MS_SYNC = 4
_MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED = 0x10
PROT_NONE = 0
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)


def _sys_mmap(addr: int | None, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    got = _mmap(addr, length, prot, flags, fd, offset)
    if got is None or got == _MAP_FAILED:
        err = ctypes.get_errno()
        raise MappingError(f"mmap of {length} bytes failed: {os.strerror(err)}", err)
    return int(got)


def _unmap(addr: int, length: int) -> None:
    _munmap(addr, length)


# --- connections (one per served filesystem or mount, shared by every open in the process) ---


class _Served:
    """A connection plus what it needs to decide write permission."""

    def __init__(self, target: Target) -> None:
        self.mountpoint = target.mountpoint
        self.fs = None
        if target.mountpoint is not None:
            self.connection = Connection(XattrTransport(target.mountpoint))
        else:
            from famfs.fs.filesystem import Filesystem
            from famfs.mapping.server import MapServer

            self.fs = Filesystem(target.device, writable=False)
            self.connection = Connection(InProcessTransport(MapServer(self.fs)))

    def may_write(self, target: Target) -> bool:
        """Whether this host may write the file: on the master, or a read-write file."""
        if self.fs is None:
            return os.access(str(target), os.W_OK)
        node = self.fs.file(target.relpath)
        return self.fs.is_master() or bool(node.entry.flags & FILE_FLAG_ALL_HOSTS_RW)


_served: dict[tuple[str, str], _Served] = {}
_served_lock = threading.Lock()


def _served_for(target: Target) -> _Served:
    key = ("mount", target.mountpoint) if target.mountpoint else (
        "device", os.path.realpath(target.device))
    with _served_lock:
        served = _served.get(key)  # type: ignore[arg-type]
        if served is None:
            served = _served[key] = _Served(target)  # type: ignore[index]
        return served


def release_connections() -> None:
    """Drop every shared connection and close the filesystems served in this process. Files
    opened before keep working on their own descriptors."""
    with _served_lock:
        served = list(_served.values())
        _served.clear()
    for item in served:
        if item.fs is not None:
            item.fs.close()


def connection_for(path: str) -> Connection:
    """The shared connection that serves the famfs file or filesystem named by `path`."""
    return _served_for(require_target(path, allow_device=True)).connection


# --- the view ---------------------------------------------------------------------------------


class _Window:
    """A reserved, 2 MiB-aligned address range with a file's runs mapped into it.

    The bytes are exposed through a ctypes array; every memoryview or NumPy array made from it
    keeps that array alive, so the range is unmapped only when no view remains.
    """

    def __init__(self, runs: list[tuple[int, int, int, int]], size: int, writable: bool) -> None:
        self.span = max(round_up(size, VIEW_ALIGN), VIEW_ALIGN)
        reserve = self.span + VIEW_ALIGN
        base = _sys_mmap(None, reserve, PROT_NONE,
                         mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        self.addr = round_up(base, VIEW_ALIGN)
        if self.addr > base:
            _unmap(base, self.addr - base)
        tail = base + reserve - (self.addr + self.span)
        if tail:
            _unmap(self.addr + self.span, tail)
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        try:
            for file_off, fd, dev_off, length in runs:
                want = self.addr + file_off
                got = _sys_mmap(want, round_up(length, PAGE), prot,
                                mmap.MAP_SHARED | MAP_FIXED, fd, dev_off)
                if got != want:
                    raise MappingError(f"mmap placed a run at {got:#x}, not {want:#x}")
        except BaseException:
            _unmap(self.addr, self.span)
            raise
        array_type = ctypes.c_ubyte * max(size, 1)
        window_type: Any = type("FamfsWindow", (array_type,), {})
        self.bytes = window_type.from_address(self.addr)
        self.size = size
        self.writable = writable
        self._finalizer = weakref.finalize(self.bytes, _unmap, self.addr, self.span)

    def views_alive(self) -> int:
        """How many objects (views, arrays) besides this window hold the mapped bytes."""
        return sys.getrefcount(self.bytes) - 2

    def memoryview(self) -> memoryview:
        view = memoryview(self.bytes).cast("B")[:self.size]
        return view if self.writable else view.toreadonly()

    def sync(self) -> None:
        """msync the mapped file bytes: written data reaches the device."""
        if _msync(self.addr, round_up(self.size, PAGE), MS_SYNC) != 0:
            err = ctypes.get_errno()
            raise MappingError(f"msync failed: {os.strerror(err)}", err)

    def close(self) -> None:
        """Unmap now. The caller has made sure no view remains."""
        self._finalizer()


# --- the file object ---------------------------------------------------------------------------


class FamfsFile(io.RawIOBase):
    """An open famfs file: read/readinto/write/seek/tell, and a zero-copy view.

    Reads and writes are clipped to the file size; writes never extend a file. Closing while a
    view or array of the file is alive raises FamfsError and leaves the file open.
    """

    def __init__(self, connection: Connection, inode: Inode, name: str, writable: bool) -> None:
        super().__init__()
        self.name = name
        self._connection = connection
        self._inode = inode
        self._writable = writable
        self._mapped = connection.map_of(inode)
        self.size = self._mapped.size
        self._pos = 0
        self._fds: dict[int, int] = {}
        self._window: _Window | None = None

    # --- devices ---

    def _fd(self, index: int) -> int:
        fd = self._fds.get(index)
        if fd is None:
            slot = self._connection.device(index)
            flags = (os.O_RDWR if self._writable else os.O_RDONLY) | os.O_CLOEXEC
            try:
                fd = os.open(slot.name, flags)
            except OSError as exc:
                raise MappingError(f"{self.name}: cannot open device {index} ({slot.name}): "
                                   f"{exc.strerror}", exc.errno or errno.EIO) from None
            self._fds[index] = fd
        return fd

    # --- io.RawIOBase ---

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise UsageError(f"{self.name}: whence {whence} is not SEEK_SET, SEEK_CUR or SEEK_END")
        if base + offset < 0:
            raise UsageError(f"{self.name}: seek to negative offset {base + offset}")
        self._pos = base + offset
        return self._pos

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed famfs file")

    def _runs(self, pos: int, count: int):  # type: ignore[no-untyped-def]
        end = min(self.size, pos + count)
        while pos < end:
            m = self._connection.resolve(self._inode, pos, end - pos)
            yield m
            pos += m.length

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the current position (short at end of file)."""
        self._check_open()
        out = memoryview(buffer).cast("B")
        done = 0
        for m in self._runs(self._pos, len(out)):
            got = os.preadv(self._fd(m.dev), [out[done:done + m.length]], m.addr)
            if got != m.length:
                raise MappingError(f"{self.name}: short read of device {m.dev} at {m.addr:#x}")
            done += got
        self._pos += done
        return done

    def write(self, data: Any) -> int:
        """Write `data` at the current position, clipped to the file size; bytes written."""
        self._check_open()
        if not self._writable:
            raise UsageError(f"{self.name}: opened read-only")
        src = memoryview(data).cast("B")
        done = 0
        for m in self._runs(self._pos, len(src)):
            os.pwritev(self._fd(m.dev), [src[done:done + m.length]], m.addr)
            done += m.length
        self._pos += done
        return done

    # --- zero-copy view ---

    def _open_window(self) -> _Window:
        self._check_open()
        if self._window is None:
            runs: list[tuple[int, int, int, int]] = []
            for m in self._runs(0, self.size):
                fd = self._fd(m.dev)
                last = runs[-1] if runs else None
                if last and last[1] == fd and last[2] + last[3] == m.addr:
                    runs[-1] = (last[0], fd, last[2], last[3] + m.length)
                else:
                    runs.append((m.offset, fd, m.addr, m.length))
            self._window = _Window(runs, self.size, self._writable)
        return self._window

    def view(self) -> memoryview:
        """The whole file as one contiguous memoryview, with no copy (read-only unless the
        file was opened for writing)."""
        return self._open_window().memoryview()

    def array(self, dtype: Any = "uint8", shape: Any = None, offset: int = 0) -> np.ndarray:
        """The file's bytes from `offset` as a NumPy array of `dtype` and `shape` (default:
        as many items as fit), with no copy."""
        import numpy as np

        dt = np.dtype(dtype)
        avail = (self.size - offset) // dt.itemsize if offset <= self.size else -1
        if shape is None:
            count = avail
            shape = (count,)
        else:
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            count = int(np.prod(shape, dtype=np.int64))
        if offset < 0 or count < 0 or count > avail:
            raise UsageError(f"{self.name}: {count} items of {dt} at offset {offset} do not fit "
                             f"in {self.size} bytes")
        return np.frombuffer(self.view(), dtype=dt, count=count, offset=offset).reshape(shape)

    def flush(self) -> None:
        """Make data written through write() or a writable view durable on the devices
        (msync of the view, fdatasync of each device written). No-op when read-only."""
        if self.closed or not self._writable:
            return
        if self._window is not None:
            self._window.sync()
        for fd in self._fds.values():
            os.fdatasync(fd)

    def npy_array(self) -> np.ndarray:
        """The array stored in the file in NumPy's .npy format (as np.save writes it), as a
        zero-copy view: the header is parsed, the data is not copied."""
        import numpy as np

        self.seek(0)
        version = np.lib.format.read_magic(self)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(self)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(self)
        if dtype.hasobject:
            raise UsageError(f"{self.name}: holds Python objects, which cannot be viewed")
        offset = self.tell()
        if fortran:
            return self.array(dtype, shape[::-1], offset).T
        return self.array(dtype, shape, offset)

    def close(self) -> None:
        """Close the file. Raises FamfsError, and stays open, while views are alive."""
        if self.closed:
            return
        if self._window is not None:
            alive = self._window.views_alive()
            if alive:
                raise FamfsError(f"{self.name}: {alive} view(s) of the file are still alive; "
                                 f"release them (del, memoryview.release()) before closing")
            self._window.close()
            self._window = None
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        super().close()

    def __del__(self) -> None:
        # Views that outlive the file keep its window mapped; the window unmaps itself when the
        # last of them goes. Only the device descriptors are released here.
        if not self.closed and self._window is not None and self._window.views_alive():
            self._window = None
        try:
            self.close()
        except FamfsError:
            pass

    def __repr__(self) -> str:
        mode = "r+b" if self._writable else "rb"
        return f"<famfs file {self.name!r} size={self.size} mode={mode}>"


def open(path: str, mode: str = "rb") -> FamfsFile:
    """Open the famfs file `path` (DEVICE:PATH or a path in a famfs mount).

    `mode` is "rb" or "r+b" (no creation or truncation: famfs files have a fixed size).
    Writing is allowed on the master, or on a file logged read-write for all hosts.
    """
    if mode not in ("rb", "r+b", "rb+"):
        raise UsageError(f"mode {mode!r}: famfs files open as 'rb' or 'r+b'")
    target = require_target(path)
    if not target.relpath:
        raise IsDirectoryError(f"{path}: names the filesystem root, not a file")
    served = _served_for(target)
    inode = served.connection.open(target.relpath)
    writable = "+" in mode
    if writable and not served.may_write(target):
        raise AccessError(f"{path}: this host may not write the file (not the master, and the "
                         f"file is not read-write for all hosts)")
    return FamfsFile(served.connection, inode, str(target), writable)


def open_on(connection: Connection, relpath: str, mode: str = "rb",
            name: str | None = None) -> FamfsFile:
    """Open `relpath` through an existing connection (any transport, any devices). The caller
    decides whether writing is allowed."""
    if mode not in ("rb", "r+b", "rb+"):
        raise UsageError(f"mode {mode!r}: famfs files open as 'rb' or 'r+b'")
    inode = connection.open(relpath)
    return FamfsFile(connection, inode, name or relpath, "+" in mode)

