"""Direct access to famfs files: `famfs.open`, reads and writes with no server round trip, and
a zero-copy view of a whole file as one contiguous range of memory.

A file is named as every command names it (famfs.fs.target): `DEVICE:PATH` (served in this
process from the device's log) or a path inside a famfs mount (maps fetched through the
mount's extended attributes). Its map is fetched once per process and cached on the inode.

The view reserves one 2 MiB-aligned address range (PROT_NONE), then maps each run of the file
that is contiguous on a device into it, side by side in file order (MAP_FIXED | MAP_SHARED from
the device), so the file's bytes appear contiguous however they are laid out on the devices.

What a process caches, per filesystem (a device, or a mount): the connection with its parsed
maps and device table, one descriptor per device and access mode, and the windows (views) of
recently opened files. A famfs file never moves or shrinks once logged, so a cached window
stays right for as long as the device is the same one: every open checks that (the device's
inode and its superblock bytes) and starts afresh when it changed.
"""

from __future__ import annotations

import ctypes
import errno
import io
import mmap
import os
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from famfs.errors import AccessError, FamfsError, IsDirectoryError, RoleError, UsageError
from famfs.fs.target import Target, require_target
from famfs.mapping.client import Connection, Inode
from famfs.mapping.iomap import IOMAP_WRITE, MappingError
from famfs.mapping.protocol import META_DIR
from famfs.mapping.transport import InProcessTransport, XattrTransport
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RO, FILE_FLAG_ALL_HOSTS_RW, round_up
from famfs.omf.superblock import SUPERBLOCK_SIZE

if TYPE_CHECKING:
    import numpy as np

    from famfs.fs.filesystem import Filesystem

VIEW_ALIGN = 2 * 1024 * 1024
"""The view's base address is a multiple of this (so DAX devices can use 2 MiB pages)."""
PAGE = mmap.PAGESIZE
WINDOWS_KEPT = 64
"""Windows of closed files kept mapped per filesystem (least recently opened go first)."""

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


def is_meta(relpath: str) -> bool:
    """Whether `relpath` names the `.meta` directory or a file in it (superblock, log)."""
    return relpath == META_DIR or relpath.startswith(META_DIR + "/")


# --- device descriptors ------------------------------------------------------------------------


class DeviceFiles:
    """One descriptor per device index and access mode, opened on first use and shared by
    every file of one connection. Closed when the last holder lets go."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._fds: dict[tuple[int, bool], int] = {}
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, DeviceFiles._close_all, self._fds)

    def fd(self, index: int, writable: bool, name: str) -> int:
        """The descriptor of device `index`; `name` is the file it is for (for messages)."""
        fd = self._fds.get((index, writable))
        if fd is not None:
            return fd
        slot = self.connection.device(index)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
        try:
            fd = os.open(slot.name, flags)
        except PermissionError as exc:
            how = "writing" if writable else "reading"
            raise AccessError(f"{name}: permission denied opening device {index} ({slot.name}) "
                              f"for {how}", exc.errno) from None
        except OSError as exc:
            raise MappingError(f"{name}: cannot open device {index} ({slot.name}): "
                               f"{exc.strerror}", exc.errno or errno.EIO) from None
        with self._lock:
            have = self._fds.setdefault((index, writable), fd)
        if have != fd:
            os.close(fd)
        return have

    @staticmethod
    def _close_all(fds: dict[tuple[int, bool], int]) -> None:
        for fd in fds.values():
            os.close(fd)
        fds.clear()


# --- the view ---------------------------------------------------------------------------------

_window_types: dict[int, Any] = {}


def _window_type(size: int) -> Any:
    """A ctypes byte array type of `size` bytes that accepts weak references."""
    cls = _window_types.get(size)
    if cls is None:
        cls = type("FamfsWindow", (ctypes.c_ubyte * size,), {})
        if len(_window_types) < 1024:
            _window_types[size] = cls
    return cls


class Window:
    """A reserved, 2 MiB-aligned address range with a file's runs mapped into it.

    The bytes are exposed through a ctypes array; every memoryview or NumPy array made from it
    keeps that array alive, so the range is unmapped only when no view remains (and neither a
    file nor the window cache holds the window).
    """

    def __init__(self, runs: list[tuple[int, int, int, int]], size: int, writable: bool) -> None:
        span = max(round_up(size, VIEW_ALIGN), VIEW_ALIGN)
        reserve = span + VIEW_ALIGN
        base = _sys_mmap(None, reserve, PROT_NONE,
                         mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        self.addr = round_up(base, VIEW_ALIGN)
        if self.addr > base:
            _unmap(base, self.addr - base)
        tail = base + reserve - (self.addr + span)
        if tail:
            _unmap(self.addr + span, tail)
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        try:
            for file_off, fd, dev_off, length in runs:
                want = self.addr + file_off
                got = _sys_mmap(want, round_up(length, PAGE), prot,
                                mmap.MAP_SHARED | MAP_FIXED, fd, dev_off)
                if got != want:
                    raise MappingError(f"mmap placed a run at {got:#x}, not {want:#x}")
        except BaseException:
            _unmap(self.addr, span)
            raise
        self.bytes = _window_type(max(size, 1)).from_address(self.addr)
        weakref.finalize(self.bytes, _unmap, self.addr, span)
        self.size = size
        self.writable = writable
        view = memoryview(self.bytes).cast("B")[:size]
        self._view = view if writable else view.toreadonly()

    def memoryview(self) -> memoryview:
        """A new memoryview of the whole file (releasing it leaves other views alone)."""
        return self._view[:]

    def sync(self) -> None:
        """msync the mapped file bytes: written data reaches the device."""
        if _msync(self.addr, round_up(self.size, PAGE), MS_SYNC) != 0:
            err = ctypes.get_errno()
            raise MappingError(f"msync failed: {os.strerror(err)}", err)


def build_window(connection: Connection, inode: Inode, size: int, writable: bool,
                 devices: DeviceFiles, name: str) -> Window:
    """Map every run of the open `inode` side by side into a new window."""
    runs: list[tuple[int, int, int, int]] = []
    for m in connection.spans(inode, 0, size):
        fd = devices.fd(m.dev, writable, name)
        last = runs[-1] if runs else None
        if last and last[1] == fd and last[2] + last[3] == m.addr:
            runs[-1] = (last[0], fd, last[2], last[3] + m.length)
        else:
            runs.append((m.offset, fd, m.addr, m.length))
    return Window(runs, size, writable)


# --- what one process keeps per filesystem -----------------------------------------------------


def _identity(device: str) -> tuple[int, int, bytes]:
    """(st_dev, st_ino, superblock bytes) of `device`: changes when it is replaced or made
    afresh."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError as exc:
        raise AccessError(f"{device}: permission denied opening the device", exc.errno) from None
    except OSError as exc:
        raise MappingError(f"{device}: cannot open: {exc.strerror}",
                           exc.errno or errno.EIO) from None
    try:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino, os.pread(fd, SUPERBLOCK_SIZE, 0)
    finally:
        os.close(fd)


class Served:
    """One filesystem as this process sees it: a connection, its device descriptors, the
    windows of recently opened files, and (on demand) the replayed log that decides roles and
    flags."""

    def __init__(self, target: Target) -> None:
        self.mountpoint = target.mountpoint
        self.device = target.device
        self.identity = _identity(target.device)
        self.lock = threading.Lock()
        self._fs: Filesystem | None = None
        self._writer: Filesystem | None = None
        if target.mountpoint is not None:
            self.connection = Connection(XattrTransport(target.mountpoint))
        else:
            from famfs.mapping.server import MapServer

            self.connection = Connection(InProcessTransport(MapServer(self.fs)))
        self.devices = DeviceFiles(self.connection)
        self.windows: OrderedDict[tuple[str, bool], Window] = OrderedDict()

    @property
    def fs(self) -> Filesystem:
        """The device's filesystem, replayed (read-only) on first use."""
        if self._fs is None:
            from famfs.fs.filesystem import Filesystem

            with self.lock:
                if self._fs is None:
                    self._fs = Filesystem(self.device, writable=False)
        return self._fs

    def writer(self) -> Filesystem:
        """The device's filesystem opened for appending, on first use."""
        if self._writer is None:
            from famfs.fs.filesystem import Filesystem

            with self.lock:
                if self._writer is None:
                    self._writer = Filesystem(self.device, writable=True)
        return self._writer

    def still_valid(self) -> bool:
        """Whether the device is the one this was built for (same inode, same superblock)."""
        try:
            return _identity(self.device) == self.identity
        except FamfsError:
            return False

    def window(self, inode: Inode, size: int, writable: bool, name: str) -> Window:
        """The window of `inode`, from the cache or mapped now (and cached)."""
        key = (inode.relpath, writable)
        with self.lock:
            win = self.windows.get(key)
            if win is not None and win.size == size:
                self.windows.move_to_end(key)
                return win
        win = build_window(self.connection, inode, size, writable, self.devices, name)
        with self.lock:
            self.windows[key] = win
            self.windows.move_to_end(key)
            while len(self.windows) > WINDOWS_KEPT:
                self.windows.popitem(last=False)
        return win

    def node(self, relpath: str):  # type: ignore[no-untyped-def]
        """The logged node at `relpath` (replaying new entries if it is not known yet)."""
        from famfs.errors import NotFoundError

        fs = self.fs
        try:
            return fs.lookup(relpath)
        except NotFoundError:
            fs.refresh()
            return fs.lookup(relpath)

    def close(self) -> None:
        with self.lock:
            self.windows.clear()
            opened = [self._fs, self._writer]
            self._fs = self._writer = None
        for fs in opened:
            if fs is not None:
                fs.close()


_served: dict[tuple[str, str], Served] = {}
_served_lock = threading.Lock()


def served_for(target: Target) -> Served:
    """What this process keeps for the filesystem `target` is on, checked to be current."""
    key = ("mount", target.mountpoint) if target.mountpoint else ("device", target.device)
    served = _served.get(key)  # type: ignore[arg-type]
    if served is not None and served.device == target.device and served.still_valid():
        return served
    fresh = Served(target)
    with _served_lock:
        old = _served.get(key)  # type: ignore[arg-type]
        _served[key] = fresh  # type: ignore[index]
    if old is not None and old is not fresh:
        old.close()
    return fresh


def release_connections() -> None:
    """Drop every shared connection, cached window and filesystem of this process. Files and
    views opened before keep working on their own descriptors and mappings."""
    with _served_lock:
        served = list(_served.values())
        _served.clear()
    for item in served:
        item.close()


def connection_for(path: str) -> Connection:
    """The shared connection that serves the famfs file or filesystem named by `path`."""
    return served_for(require_target(path, allow_device=True)).connection


# --- who may open what ------------------------------------------------------------------------


def check_open(served: Served, target: Target, writable: bool) -> None:
    """Raise unless this caller, on this host, may open `target` (read, or read and write).

    In order: the file modes (AccessError: the kernel's answer for a path in a mount, the
    logged modes for DEVICE:PATH), then for writing the all-hosts-read-only flag (AccessError,
    on every host) and the host's role (RoleError: a client writes only files logged
    read-write for all hosts, and never the superblock or the log).
    """
    from famfs.permissions import READ, WRITE, check_path

    shown = str(target)
    want = READ | (WRITE if writable else 0)
    if served.mountpoint is not None:
        if not os.access(shown, want):
            how = "read and write" if writable else "read"
            raise AccessError(f"{shown}: permission denied: the file's mode does not let uid "
                              f"{os.geteuid()} {how} it")
    elif not is_meta(target.relpath):
        fs = served.fs
        try:
            check_path(fs.namespace, target.relpath, want, shown)
        except FileNotFoundError:
            fs.refresh()
            check_path(fs.namespace, target.relpath, want, shown)
    if not writable:
        return
    fs = served.fs
    if is_meta(target.relpath):
        if not fs.is_master():
            raise RoleError(f"{shown}: this host is a client of the famfs on {served.device}; "
                            f"only its master may write the superblock or the log")
        return
    node = served.node(target.relpath)
    flags = node.entry.flags
    if flags & FILE_FLAG_ALL_HOSTS_RO:
        raise AccessError(f"{shown}: the file is logged read-only for all hosts "
                          f"(FILE_FLAG_ALL_HOSTS_RO); no host may write it", errno.EROFS)
    if not fs.is_master() and not flags & FILE_FLAG_ALL_HOSTS_RW:
        raise RoleError(f"{shown}: this host is a client, and the file is not logged "
                        f"read-write for all hosts; only the master may write it")


# --- the file object ---------------------------------------------------------------------------


class FamfsFile(io.RawIOBase):
    """An open famfs file: read/readinto/write/seek/tell, and a zero-copy view.

    Reads and writes are clipped to the file size; writes never extend a file. Views and
    arrays stay valid after the file is closed: the mapping goes when the last of them does.
    """

    def __init__(self, connection: Connection, inode: Inode, name: str, writable: bool,
                 devices: DeviceFiles | None = None, served: Served | None = None) -> None:
        super().__init__()
        self.name = name
        self._connection = connection
        self._inode = inode
        self._writable = writable
        self._mapped = connection.map_of(inode)
        self.size = self._mapped.size
        self._pos = 0
        self._devices = devices if devices is not None else DeviceFiles(connection)
        self._served = served
        self._window: Window | None = None
        self._written: set[int] = set()

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

    def _fd(self, index: int) -> int:
        return self._devices.fd(index, self._writable, self.name)

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the current position (short at end of file)."""
        self._check_open()
        out = memoryview(buffer).cast("B")
        done = 0
        for m in self._connection.spans(self._inode, self._pos, len(out)):
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
        for m in self._connection.spans(self._inode, self._pos, len(src), IOMAP_WRITE):
            os.pwritev(self._fd(m.dev), [src[done:done + m.length]], m.addr)
            self._written.add(m.dev)
            done += m.length
        self._pos += done
        return done

    # --- zero-copy view ---

    def _open_window(self) -> Window:
        self._check_open()
        if self._window is None:
            if self._served is not None:
                self._window = self._served.window(self._inode, self.size, self._writable,
                                                   self.name)
            else:
                self._window = build_window(self._connection, self._inode, self.size,
                                            self._writable, self._devices, self.name)
        return self._window

    def view(self) -> memoryview:
        """The whole file as one contiguous memoryview, with no copy (read-only unless the
        file was opened for writing). It stays valid after the file is closed."""
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
        arr = np.frombuffer(self.view(), dtype=dt, count=count, offset=offset)
        return arr if arr.shape == shape else arr.reshape(shape)

    def flush(self) -> None:
        """Make data written through write() or a writable view durable on the devices
        (msync of the view, fdatasync of each device written). No-op when read-only."""
        if self.closed or not self._writable:
            return
        if self._window is not None:
            self._window.sync()
        for index in sorted(self._written):
            os.fdatasync(self._fd(index))

    def npy_header(self) -> tuple[Any, tuple[int, ...], bool, int]:
        """(dtype, shape, fortran_order, data offset) from the file's .npy header."""
        import numpy as np

        self.seek(0)
        try:
            version = np.lib.format.read_magic(self)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self)
        except ValueError as exc:
            raise UsageError(f"{self.name}: not a .npy file: {exc}") from None
        return dtype, shape, fortran, self.tell()

    def npy_array(self) -> np.ndarray:
        """The array stored in the file in NumPy's .npy format (as np.save writes it), as a
        zero-copy view: the header is parsed, the data is not copied."""
        dtype, shape, fortran, offset = self.npy_header()
        if dtype.hasobject:
            raise UsageError(f"{self.name}: holds Python objects, which cannot be viewed")
        if fortran:
            return self.array(dtype, shape[::-1], offset).T
        return self.array(dtype, shape, offset)

    def close(self) -> None:
        """Close the file. Views and arrays made from it stay valid; the mapping goes when the
        last of them (and the process's window cache) lets go."""
        if self.closed:
            return
        self._window = None
        super().close()

    def __repr__(self) -> str:
        mode = "r+b" if self._writable else "rb"
        return f"<famfs file {self.name!r} size={self.size} mode={mode}>"


def _check_mode(mode: str) -> bool:
    if mode not in ("rb", "r+b", "rb+"):
        raise UsageError(f"mode {mode!r}: famfs files open as 'rb' or 'r+b'")
    return "+" in mode


def open(path: str, mode: str = "rb") -> FamfsFile:
    """Open the famfs file `path` (DEVICE:PATH or a path in a famfs mount).

    `mode` is "rb" or "r+b" (no creation or truncation: famfs files have a fixed size; use
    `famfs.create` for a new file). The file modes apply (AccessError); writing is allowed on
    the master, or on a client for a file logged read-write for all hosts (RoleError), and
    never for a file logged read-only for all hosts (AccessError).
    """
    writable = _check_mode(mode)
    target = require_target(path)
    if not target.relpath:
        raise IsDirectoryError(f"{path}: names the filesystem root, not a file")
    served = served_for(target)
    if served.mountpoint is None:
        check_open(served, target, writable)
        inode = served.connection.open(target.relpath)
    else:
        try:
            inode = served.connection.open(target.relpath)
        except MappingError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM):
                raise
            raise AccessError(f"{target}: permission denied: the mount refused its map "
                              f"to uid {os.geteuid()}", exc.errno) from None
        check_open(served, target, writable)
    return FamfsFile(served.connection, inode, str(target), writable, served.devices, served)


def open_on(connection: Connection, relpath: str, mode: str = "rb",
            name: str | None = None) -> FamfsFile:
    """Open `relpath` through an existing connection (any transport, any devices). The caller
    decides whether writing is allowed."""
    writable = _check_mode(mode)
    inode = connection.open(relpath)
    return FamfsFile(connection, inode, name or relpath, writable)
