"""The writable namespace of a mount on the master: files and directories made through it.

A directory made through the mount (MKDIR) is logged at once, as `famfs mkdir` logs it.

A regular file made through it (CREATE: open(2) with O_CREAT) starts as a pending file: a
growing reservation (`Filesystem.reserve_growing`) that this server holds, known only to this
mount (it is listed here, by parent directory, beside the namespace replayed from the log, which
knows nothing of it) and seen by no other host. Its bytes are written where its extents are;
a write past its space takes more (`Filesystem.grow`: extents of doubling size, at most 16),
fallocate takes exactly what is missing. While it is pending, writes anywhere, truncate and
setattr of its size, rename, unlink, chmod and chown are allowed and nothing is logged. When
its last open handle is released, it is logged (`Reservation.commit`: its space trimmed to its
final size, its bytes flushed, then its entry appended), and from then on it is a logged file
like any other: its size and map never change again. Released files are logged by one thread,
the committer, in batches of whatever was released while it logged the previous batch (one log
append each), so a burst of small files costs one append per batch. Until it is logged, a file
released but not logged yet is still pending: it may be opened again (then it waits for its new
last release), renamed or removed. A pending file that was unlinked is never logged; its space
is given back at its last release. The space is held by this process
(famfs.holds), so a server that is killed leaves nothing in the log and holds nothing.

Bytes of a pending file that were never written read as zeros: where a write starts past the
end, or the size is raised (truncate, fallocate), the gap is zeroed first, and so is the rest of
the last page when the file is logged, so space given back by another pending file never shows
its old bytes.

MKNOD of a regular file makes an empty file and logs it at once (nothing holds it open; an open
that follows finds a logged file, as after touch).

Locks: a pending file's own lock is taken before the mount's namespace lock (the operations'
`lock`), never after; two pending files' locks are taken in node id order.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from famfs.device import Device
from famfs.errors import FamfsError
from famfs.fs.filesystem import Filesystem, Reservation, check_name
from famfs.fs.namespace import Directory, File
from famfs.fuse.inodes import Inode, InodeTable, Kind
from famfs.omf.fmap import SimpleExtent
from famfs.omf.layout import MAX_PATH, MiB

COMMIT_BATCH = 1000
"""Most files the committer logs in one append."""
COMMIT_DELAY_S = 0.02
"""How long the committer waits for more released files before it logs a batch."""

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
"""fallocate(2) modes (linux/falloc.h) a pending file takes; any other is EOPNOTSUPP."""
RENAME_NOREPLACE = 1
"""renameat2(2) flag (linux/fs.h): fail rather than replace the target."""

_ZEROS = bytes(MiB)


class WriteError(FamfsError):
    """A request on the writable namespace refused or failed; `errno` is its answer."""


def _err(code: int, message: str) -> WriteError:
    return WriteError(message, errno=code)


Store = Callable[[Device, int, memoryview], None]
"""Puts bytes at a device offset (the operations' checked pwrite)."""


@dataclass(eq=False)
class PendingFile:
    """A file made through the mount and not logged yet. Sizes are in bytes."""

    inode: Inode
    reservation: Reservation
    node: File
    """The reservation's File: its path, mode, owner and extents are what will be logged."""
    parent: str
    """Path of the parent directory ('' for the root)."""
    name: str
    size: int = 0
    opens: int = 0
    extents: tuple[SimpleExtent, ...] = ()
    capacity: int = 0
    """Bytes the extents hold (at least `size`)."""
    unlinked: bool = False
    done: bool = False
    """Logged, or given back: no longer pending."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def relpath(self) -> str:
        return self.node.relpath


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


class WritableNamespace:
    """New files and directories of one mount of `fs` on its master (see the module docstring).

    `inodes` and `lock` are the mount's node table and namespace lock; `store` writes file
    bytes to a device. Pending files are found by node id in `pending`.
    """

    def __init__(self, fs: Filesystem, inodes: InodeTable, lock: threading.RLock,
                 store: Store) -> None:
        self.fs = fs
        self.inodes = inodes
        self.lock = lock
        self.store = store
        self.pending: dict[int, PendingFile] = {}
        self._names: dict[str, dict[str, PendingFile]] = {}
        self.logged = 0
        """Files logged through this mount."""
        self.lost: list[str] = []
        """Why pending files could not be logged (each is reported on stderr too)."""
        self._released: list[PendingFile] = []
        self._wake = threading.Condition()
        self._closing = False
        self._committer: threading.Thread | None = None

    # --- names ----------------------------------------------------------------------------

    def child(self, parent: str, name: str) -> Inode | None:
        """The pending file `name` in directory `parent`, or None."""
        names = self._names.get(parent)
        if not names:
            return None
        p = names.get(name)
        return None if p is None else p.inode

    def children(self, parent: str) -> list[tuple[str, Inode]]:
        """(name, inode) of every pending file in directory `parent`."""
        names = self._names.get(parent)
        if not names:
            return []
        return [(name, p.inode) for name, p in list(names.items())]

    def _new_path(self, parent: Inode, name: str) -> str:
        """The path of new name `name` in `parent`, checked as famfs checks new names."""
        relpath = join(parent.key, name)
        raw = os.fsencode(relpath)
        if len(raw) >= MAX_PATH:
            raise _err(errno.ENAMETOOLONG, f"{relpath}: {len(raw)} bytes; famfs paths are at "
                       f"most {MAX_PATH - 1} bytes")
        check_name(relpath)
        if self.child(parent.key, name) is not None:
            raise _err(errno.EEXIST, f"{relpath}: exists already")
        return relpath

    @staticmethod
    def _inherit(parent: Inode, mode: int, gid: int, is_dir: bool) -> tuple[int, int]:
        """Mode and group of a new name in `parent`: a set-group-ID directory gives its group
        (and, to a new directory, its set-group-ID bit)."""
        if parent.file_mode() & stat.S_ISGID:
            gid = parent.owner()[1]
            if is_dir:
                mode |= stat.S_ISGID
        return mode & 0o7777, gid

    def _check_log_room(self) -> None:
        head = self.fs.log.header()
        if head.next_index + len(self.pending) >= head.slots:
            raise _err(errno.ENOSPC, f"log full: {head.next_index} of {head.slots} slots used "
                       f"and {len(self.pending)} files waiting to be logged")

    # --- directories ----------------------------------------------------------------------

    def mkdir(self, parent: Inode, name: str, mode: int, uid: int, gid: int) -> Inode:
        """Log directory `name` in `parent` now (as `famfs mkdir`)."""
        relpath = self._new_path(parent, name)
        mode, gid = self._inherit(parent, mode, gid, is_dir=True)
        with self.lock:
            if self.child(parent.key, name) is not None:
                raise _err(errno.EEXIST, f"{relpath}: exists already")
            node = self.fs.mkdir(relpath, mode=mode, uid=uid, gid=gid)
            inode = self.inodes.ensure(relpath, Kind.DIR, node)
            _stamp(inode)
        return inode

    # --- files ----------------------------------------------------------------------------

    def create(self, parent: Inode, name: str, mode: int, uid: int, gid: int,
               opens: int = 1) -> PendingFile:
        """A new, empty pending file `name` in `parent`, open `opens` times."""
        relpath = self._new_path(parent, name)
        mode, gid = self._inherit(parent, mode, gid, is_dir=False)
        with self.lock:
            if self.child(parent.key, name) is not None:
                raise _err(errno.EEXIST, f"{relpath}: exists already")
            self._check_log_room()
            reservation = self.fs.reserve_growing(relpath, mode, uid, gid,
                                                  room=self.fs.sb.alloc_unit)
            node = reservation.pending[0]
            inode = self.inodes.ensure(relpath, Kind.FILE, node)
            _stamp(inode)
            p = PendingFile(inode, reservation, node, parent.key, name, opens=opens,
                            extents=node.entry.fmap.extents,
                            capacity=sum(e.length for e in node.entry.fmap.extents))
            inode.pending = p
            self.pending[inode.nodeid] = p
            self._names.setdefault(parent.key, {})[name] = p
        return p

    def mknod(self, parent: Inode, name: str, mode: int, uid: int, gid: int) -> Inode:
        """An empty regular file, logged at once."""
        p = self.create(parent, name, mode, uid, gid, opens=0)
        self._commit([p])
        if p.inode.node is p.node:
            raise _err(errno.EIO, f"{p.relpath}: could not be logged: "
                       f"{self.lost[-1] if self.lost else 'unknown error'}")
        return p.inode

    def opened(self, p: PendingFile) -> bool:
        """Count one more open of `p`; False if it was logged meanwhile (an ordinary file)."""
        with p.lock:
            if p.done:
                return False
            p.opens += 1
            return True

    def settle(self, p: PendingFile) -> None:
        """Return once a logging of `p` under way has ended (the committer holds the file's
        lock while it logs): then `p` is either logged or lost, never half-way."""
        if p.done:
            with p.lock:
                pass

    def released(self, p: PendingFile) -> None:
        """One open of `p` is gone; after the last one the committer logs it (an unlinked one
        is given back at once)."""
        with p.lock:
            p.opens -= 1
            if p.opens > 0 or p.done:
                return
            if p.unlinked:
                with self.lock:
                    self._give_back(p)
                return
        with self._wake:
            self._released.append(p)
            if self._committer is None and not self._closing:
                self._committer = threading.Thread(target=self._commit_released,
                                                   name="famfs-committer", daemon=True)
                self._committer.start()
            self._wake.notify()

    def _commit_released(self) -> None:
        """The committer: log released files, a batch at a time, until `close`."""
        while True:
            with self._wake:
                while not self._released and not self._closing:
                    self._wake.wait()
                if not self._released:
                    return
            if not self._closing:
                time.sleep(COMMIT_DELAY_S)
            with self._wake:
                batch = self._released[:COMMIT_BATCH]
                del self._released[:COMMIT_BATCH]
            try:
                self._commit(batch)
            except Exception as exc:  # the committer must go on; the reason is reported
                for p in batch:
                    if not p.done:
                        self._lost(p, f"the committer failed: {exc!r}")

    def _commit(self, batch: list[PendingFile], force: bool = False) -> None:
        """Log the files of `batch` that are not open (again; with `force`, open or not), not
        logged and not unlinked; give back the unlinked ones. Locks: each file's, in node id
        order, then the namespace's."""
        batch = sorted(set(batch), key=lambda f: f.inode.nodeid)
        for p in batch:
            p.lock.acquire()
        try:
            ready = [p for p in batch if not p.done and (force or p.opens <= 0)]
            with self.lock:
                todo = []
                for p in ready:
                    if p.unlinked:
                        self._give_back(p)
                    else:
                        todo.append(p)
                self._log(todo)
        finally:
            for p in reversed(batch):
                p.lock.release()

    def _log(self, todo: list[PendingFile]) -> None:
        """Log `todo` in one append (both locks of each held)."""
        reservations = []
        for p in list(todo):
            p.done = True
            self._drop_name(p)
            self.pending.pop(p.inode.nodeid, None)
            try:
                # The rest of the last page reads as zeros also where a whole page is mapped
                # (a kernel that maps the file), whatever the space held before.
                self._zero(p, p.size, min(-(-p.size // mmap.PAGESIZE) * mmap.PAGESIZE,
                                          p.capacity))
                self.fs.grow(p.reservation, p.node, p.size)  # the size it is logged with
            except FamfsError as exc:
                p.reservation.abort()
                self._lost(p, str(exc))
                todo.remove(p)
                continue
            reservations.append(p.reservation)
        if not todo:
            return
        try:
            results = self.fs.commit_many(reservations)
        except FamfsError as exc:
            for p in todo:
                p.reservation.abort()
                self._lost(p, str(exc))
            return
        for p, logged in zip(todo, results, strict=True):
            if not logged:
                errors = p.reservation.errors
                self._lost(p, str(errors[0][1]) if errors else "not logged")
                continue
            p.inode.node = logged[0]
            p.inode.pending = None
            self.logged += 1

    def _give_back(self, p: PendingFile) -> None:
        """An unlinked pending file is gone for good (both locks held)."""
        p.done = True
        self.pending.pop(p.inode.nodeid, None)
        p.reservation.abort()
        p.inode.pending = None

    def _lost(self, p: PendingFile, reason: str) -> None:
        """`p` could not be logged: its name goes (another file may hold it now)."""
        p.inode.pending = None
        self.inodes.rekey(p.inode, None)
        message = f"{p.relpath}: written through the mount but not logged: {reason}"
        self.lost.append(message)
        print(f"famfs mount: {message}", file=sys.stderr, flush=True)

    def _drop_name(self, p: PendingFile) -> None:
        names = self._names.get(p.parent)
        if names is not None and names.get(p.name) is p:
            del names[p.name]
            if not names:
                del self._names[p.parent]

    def unlink(self, p: PendingFile) -> None:
        """Remove pending file `p`: never logged; its space goes back at its last release."""
        with p.lock:
            if p.done:
                raise _err(errno.EPERM, f"{p.relpath}: logged files are never removed")
            with self.lock:
                self._unlink(p)

    def _unlink(self, p: PendingFile) -> None:
        """(Both locks held.)"""
        p.unlinked = True
        self._drop_name(p)
        self.inodes.rekey(p.inode, None)
        if p.opens <= 0:
            self._give_back(p)

    def rename(self, p: PendingFile, parent: Inode, name: str, noreplace: bool) -> None:
        """Move pending file `p` to `name` in `parent`, replacing a pending file there (not
        with `noreplace`). A logged name is never replaced (EEXIST)."""
        relpath = join(parent.key, name)
        raw = os.fsencode(relpath)
        if len(raw) >= MAX_PATH:
            raise _err(errno.ENAMETOOLONG, f"{relpath}: {len(raw)} bytes; famfs paths are at "
                       f"most {MAX_PATH - 1} bytes")
        check_name(relpath)
        while True:
            target = self._names.get(parent.key, {}).get(name)
            if target is p:
                return
            locks = sorted([p] + ([target] if target is not None else []),
                           key=lambda f: f.inode.nodeid)
            for f in locks:
                f.lock.acquire()
            try:
                with self.lock:
                    if self._names.get(parent.key, {}).get(name) is not target:
                        continue  # changed while we waited: look again
                    if p.done:
                        raise _err(errno.EPERM, f"{p.relpath}: logged files are never "
                                   f"renamed")
                    if self.fs.namespace.find(relpath) is not None:
                        raise _err(errno.EEXIST, f"{relpath}: a logged name is never "
                                   f"replaced")
                    if target is not None:
                        if noreplace:
                            raise _err(errno.EEXIST, f"{relpath}: exists already")
                        self._unlink(target)
                    self.fs.rename_pending(p.reservation, p.node, relpath)
                    self._drop_name(p)
                    p.parent, p.name = parent.key, name
                    self._names.setdefault(parent.key, {})[name] = p
                    self.inodes.rekey(p.inode, relpath)
                    p.inode.ctime_ns = time.time_ns()
                    return
            finally:
                for f in reversed(locks):
                    f.lock.release()

    def set_attributes(self, p: PendingFile, mode: int | None, uid: int | None,
                       gid: int | None) -> None:
        """Change the mode or owner `p` will be logged with."""
        with p.lock:
            self.fs.set_attributes(p.node, mode, uid, gid)

    # --- bytes ------------------------------------------------------------------------------

    def _grow(self, p: PendingFile, size: int, exact: bool = False) -> None:
        """Room for `size` bytes (its lock held)."""
        with self.lock:
            self.fs.grow(p.reservation, p.node, size, exact)
        p.extents = p.node.entry.fmap.extents
        p.capacity = sum(e.length for e in p.extents)

    def _runs(self, p: PendingFile, offset: int, length: int) -> list[tuple[Device, int, int]]:
        """(device, device offset, bytes) of file bytes [offset, offset + length) of `p`,
        within its extents."""
        out: list[tuple[Device, int, int]] = []
        end = offset + length
        pos = 0
        for ext in p.extents:
            ext_end = pos + ext.length
            if ext_end > offset:
                lo, hi = max(offset, pos), min(end, ext_end)
                out.append((self.fs.devices.device(ext.devindex), ext.offset + lo - pos,
                            hi - lo))
            pos = ext_end
            if pos >= end:
                break
        return out

    def _zero(self, p: PendingFile, start: int, end: int) -> None:
        """Zero file bytes [start, end) of `p` (within its extents; its lock held)."""
        for dev, addr, n in self._runs(p, start, end - start):
            for pos in range(0, n, len(_ZEROS)):
                self.store(dev, addr + pos, memoryview(_ZEROS)[:min(len(_ZEROS), n - pos)])

    def _make_room(self, p: PendingFile, end: int, filled_to: int) -> None:
        """Grow `p` to hold `end` bytes, and extend it with zeros to `filled_to` bytes if it
        is shorter (its lock held)."""
        if end > p.capacity:
            self._grow(p, end)
        if filled_to > p.size:
            self._zero(p, p.size, filled_to)
            p.size = filled_to

    def write(self, p: PendingFile, offset: int, data: memoryview) -> int:
        """Write `data` at `offset`, growing `p` as needed; returns the bytes written (short
        if the device failed after some went in)."""
        end = offset + len(data)
        with p.lock:
            if p.done:
                raise _err(errno.ESTALE, f"{p.relpath}: logged while being written")
            self._make_room(p, end, offset)
            done = 0
            try:
                for dev, addr, n in self._runs(p, offset, len(data)):
                    self.store(dev, addr, data[done:done + n])
                    done += n
            except OSError:
                if not done:
                    raise
            finally:
                if offset + done > p.size:
                    p.size = offset + done
                p.inode.mtime_ns = p.inode.ctime_ns = time.time_ns()
            return done

    def read(self, p: PendingFile, offset: int, size: int) -> list[memoryview]:
        """Up to `size` bytes from `offset` as views of the device mappings (short at EOF)."""
        n = min(size, p.size - offset)
        if n <= 0:
            return []
        return [dev.buf[addr:addr + k] for dev, addr, k in self._runs(p, offset, n)]

    def resize(self, p: PendingFile, size: int) -> None:
        """Truncate or extend `p` to `size` bytes (an extension reads as zeros)."""
        with p.lock:
            if p.done:
                raise _err(errno.EINVAL, f"{p.relpath}: logged files are never resized")
            self._make_room(p, size, size)
            p.size = size
            p.inode.mtime_ns = p.inode.ctime_ns = time.time_ns()

    def fallocate(self, p: PendingFile, offset: int, length: int, mode: int) -> None:
        """fallocate(2) on `p`: space for [offset, offset + length) taken exactly (the image's
        backing store reserved), the size raised unless FALLOC_FL_KEEP_SIZE; PUNCH_HOLE and
        ZERO_RANGE zero the range."""
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
            raise _err(errno.EOPNOTSUPP, f"fallocate mode {mode:#x} is not supported")
        end = offset + length
        with p.lock:
            if p.done:
                raise _err(errno.EFBIG, f"{p.relpath}: logged files never grow")
            if mode & FALLOC_FL_PUNCH_HOLE:
                if offset < p.size:
                    self._zero(p, offset, min(end, p.size))
                return
            if end > p.capacity:
                self._grow(p, end, exact=True)
            if mode & FALLOC_FL_ZERO_RANGE and offset < p.size:
                self._zero(p, offset, min(end, p.size))
            if end > p.size and not mode & FALLOC_FL_KEEP_SIZE:
                self._zero(p, p.size, end)
                p.size = end
            p.inode.ctime_ns = time.time_ns()

    def flush(self, p: PendingFile) -> None:
        """msync the bytes `p` holds so far."""
        for dev, addr, n in self._runs(p, 0, p.size):
            dev.flush(addr, n)

    # --- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """The connection is gone: log every pending file as it is (no more writes can come;
        releases the kernel had not sent yet are lost with it), give back the unlinked ones."""
        with self._wake:
            self._closing = True
            self._wake.notify()
            committer = self._committer
        if committer is not None:
            committer.join()
        left = list(self.pending.values())
        for start in range(0, len(left), COMMIT_BATCH):
            self._commit(left[start:start + COMMIT_BATCH], force=True)


def _stamp(inode: Inode) -> None:
    """Times of a name made now."""
    inode.atime_ns = inode.mtime_ns = inode.ctime_ns = time.time_ns()


def is_directory_node(inode: Inode) -> bool:
    """Whether new names may be made in `inode` (a directory of the filesystem, not .meta)."""
    return inode.kind is Kind.DIR and isinstance(inode.node, Directory)
