"""Filesystem operations of a famfs mount, on node ids; no FUSE wire bytes here.

`FamfsOperations` serves one replayed famfs (famfs.fs.filesystem.Filesystem). Errors are raised
as famfs errors (OSErrors carrying the errno the request is answered with). Everything about
maps and devices comes from the mount's MapServer (famfs.mapping.server): the GET_FMAP reply of
a file or a `.meta` file, the GET_DAXDEV reply of a device. The data path resolves every offset
through the mapping layer: each file's map is parsed once and cached on its inode, and reads and
writes walk MappedFile.spans over the filesystem's devices; reads return memoryview slices of
the device mappings (no copy of file data).

What the mount shows: every logged file and directory with its logged mode, uid, gid and size;
`.meta/.superblock` (2 MiB, 0444) and `.meta/.log` (log_len bytes; 0644 on the master, 0444 on
clients) in the root. On the master (unless `MountOptions.create` is off), new directories and
files are made through the mount (famfs.fuse.writable): a directory is logged at once, a file
when its last open handle is released, and until then it is this mount's alone and may be
written anywhere, resized, renamed or removed. A logged file is never removed, renamed or
resized (see `refuse` and `REFUSED`). Mode, owner and times of logged files may be changed; the
change lives in memory for the mount's life.

Namespace updates: on the master, directory operations replay the log when its header says
entries were appended (the CLI appends to the device directly). On a client, a follower thread
polls the header (`MountOptions.follow`), and reading `user.famfs.logplay` on the root replays
at once.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from famfs.device import Device
from famfs.errors import FamfsError
from famfs.fs.filesystem import Filesystem, ReplayStats
from famfs.fs.namespace import Directory, File, Node
from famfs.fuse.inodes import ROOT_ID, Inode, InodeTable, Kind, Stat
from famfs.fuse.options import CACHE_MODES
from famfs.fuse.readahead import ListingReadahead
from famfs.fuse.writable import (
    FALLOC_FL_KEEP_SIZE,
    RENAME_NOREPLACE,
    PendingFile,
    WritableNamespace,
    is_directory_node,
)
from famfs.mapping import map_file
from famfs.mapping.iomap import IoMap
from famfs.mapping.mapped import MappedFile
from famfs.mapping.protocol import (
    FMAP_XATTR,
    LOGPLAY_XATTR,
    META_DIR,
    LogplayReply,
    daxdev_index,
    daxdev_xattr,
)
from famfs.mapping.server import MapServer
from famfs.mapping.wire import FileType

NAME_MAX = 255


@dataclass(frozen=True)
class MountOptions:
    """How a mount behaves. `cache`: 'direct' (no page cache, the default) or 'page'.
    `follow`: on a client, replay new log entries by itself every `follow_interval` seconds."""

    readonly: bool = False
    cache: str = "direct"
    follow: bool = True
    follow_interval: float = 0.2
    create: bool = True
    """On the master, make files and directories through the mount (famfs.fuse.writable);
    off (`famfs mount --no-create`), creating is refused as on a client."""
    freeze_gc: bool = False
    """The server owns its process (`famfs mount`): objects that live as long as the mount
    are kept out of the garbage collector's full passes (see famfs.fuse.inodes.FREEZE_AFTER)."""


DirEntry = tuple[str, "Node | Inode", int]
"""One directory entry: (name, namespace node or inode, offset where the listing resumes after
it); `inodes_of` gives the inodes of the nodes. `.` and `..` are offsets 1 and 2 (inodes; the
kernel counts no lookups for them)."""

Listing = list[tuple[str, "Node | Inode"]]
"""A snapshot of a directory's entries, in order: namespace nodes (their inodes are made when
they are listed) and inodes (`.meta`, files not logged yet)."""

XATTR_USER_PREFIX = "user."
"""The extended attribute namespace a mount serves (famfs's own names are in it). Names in any
other namespace (security., system., trusted.) are answered EOPNOTSUPP, as by a filesystem
without them: tools such as ls then stop asking for the ACLs and security labels of every file
on the mount."""

SHORT_VALID_S = 1
"""Seconds the kernel may keep what can change without it knowing: the attributes of
directories (a replay adds subdirectories; an implicit directory gets its entry's mode and
owner) and everything of a file not logged yet."""
LONG_VALID_S = 24 * 3600
"""Seconds the kernel may keep what cannot change behind its back: the names of logged files
and directories (never removed or renamed) and the attributes of logged files (their size and
map never change; chmod, chown and utime go through the kernel, which takes the reply)."""


@dataclass(frozen=True)
class OpenFile:
    """An open file: handle, and how the kernel should cache it."""

    fh: int
    direct_io: bool
    keep_cache: bool


@dataclass(frozen=True)
class AttrChanges:
    """SETATTR: fields to change (None: unchanged). Times in ns since the epoch."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None


@dataclass(frozen=True)
class FsStats:
    """STATFS: sizes in bytes; `files`/`free_files` count names and free log slots."""

    capacity: int
    free: int
    block_size: int
    files: int
    free_files: int
    name_max: int = NAME_MAX


class OperationError(FamfsError):
    """An operation refused or failed; `errno` is what the request is answered with."""


def _err(code: int, message: str = "") -> OperationError:
    return OperationError(message or os.strerror(code), errno=code)


class FamfsOperations:
    """The operations of one mount of `fs` (opened writable unless the mount is read-only)."""

    LOGPLAY_PROBE_TTL = 5.0
    """Seconds a logplay result computed for a size probe waits for the read that follows."""

    def __init__(self, fs: Filesystem, options: MountOptions | None = None,
                 maps: MapServer | None = None, owner: tuple[int, int] | None = None
                 ) -> None:
        self.fs = fs
        self.options = options or MountOptions()
        self.owner_uid, self.owner_gid = owner if owner is not None else (os.getuid(),
                                                                          os.getgid())
        """Who mounted: with root, the only user who may read the log or replay it."""
        if self.options.cache not in CACHE_MODES:
            raise ValueError(f"cache mode {self.options.cache!r}: expected direct or page")
        self.lock = threading.RLock()
        """Held while the namespace is read or replayed."""
        self.master = fs.is_master()
        self.maps = maps if maps is not None else MapServer(fs)
        """The one source of maps and devices (famfs.mapping.server)."""
        self.device_listeners: list[Callable[[list[int]], None]] = []
        """Called with the indices of devices a replay added (to push them to the kernel)."""
        self.inodes = InodeTable(self.options.freeze_gc)
        self.inodes.add_root(fs.namespace.root)
        self._dir_handles: dict[int, Listing] = {}
        self.readahead = ListingReadahead(self.lock)
        self._dir_handle_ids = itertools.count(1)
        """Directory handles: taken with next() and kept in a dict, both atomic, so that
        opening and releasing a handle never waits for the namespace lock."""
        self._logplay_probes: dict[int, tuple[float, bytes]] = {}
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self.replay_error: str | None = None
        self._log_slots = fs.log.header().slots
        self.data_errors = 0
        """Reads and writes answered with an error because the device failed under them."""
        self.writable: WritableNamespace | None = None
        """Files and directories made through the mount (None: creating is refused)."""
        if (self.master and self.options.create and not self.options.readonly
                and fs.device.writable):
            self.writable = WritableNamespace(fs, self.inodes, self.lock, self._store)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the follower thread (clients with `follow` only)."""
        if self.master or not self.options.follow or self._follower is not None:
            return
        self._follower = threading.Thread(target=self._follow, name="famfs-follower",
                                          daemon=True)
        self._follower.start()

    def close(self) -> None:
        """Stop the follower and log the files made through the mount that are not logged
        yet (the connection is gone: nothing more can be written to them). The filesystem
        itself belongs to the caller."""
        self._stop.set()
        self.readahead.close()
        if self._follower is not None:
            self._follower.join()
            self._follower = None
        if self.writable is not None:
            self.writable.close()

    def _follow(self) -> None:
        while not self._stop.wait(self.options.follow_interval):
            self.sync()

    # --- namespace ----------------------------------------------------------------------

    def device_intact(self, dev: Device | None = None) -> bool:
        """Whether every byte of the mapping of `dev` (default: the primary device, which holds
        the log) is still backed: an image file that was truncated below the size it had at
        mount would fault (SIGBUS) on any access from this process, so it is not read or
        written from here then. A DAX device cannot shrink."""
        if dev is None:
            dev = self.fs.device
        if dev.is_dax:
            return True
        try:
            return os.fstat(dev.fd).st_size >= dev.size
        except OSError:
            return False

    def _check_device(self) -> None:
        if not self.device_intact():
            raise _err(errno.EIO, f"{self.fs.device.path}: the image is shorter than when it "
                       f"was mounted; the log is not read")

    def sync(self) -> ReplayStats | None:
        """Replay the log if its header moved since the last replay (cheap when it has not:
        one fstat and one 8-byte read)."""
        try:
            self._check_device()
            if self.fs.log.next_index() == self.fs.applied:
                return None
            return self.replay()
        except FamfsError as exc:
            self._replay_failed(exc)
            return None

    def replay(self) -> ReplayStats:
        """Replay the log now; raises FamfsError if an entry is bad (what came before stays).
        Devices the log added are announced to `device_listeners`."""
        with self.lock:
            self._check_device()
            known = len(self.fs.device_sizes)
            stats = self.fs.refresh()
            added = sorted(self.fs.device_sizes)[known:]
        if added:
            for listener in list(self.device_listeners):
                listener(added)
        return stats

    def _replay_failed(self, exc: OSError) -> None:
        message = str(exc)
        if message != self.replay_error:
            print(f"famfs mount: log replay stopped: {message}", file=sys.stderr, flush=True)
        self.replay_error = message

    def _maybe_sync(self, inode: Inode) -> None:
        if self.master and inode.is_dir:
            self.sync()

    def _inode(self, nodeid: int) -> Inode:
        inode = self.inodes.get(nodeid)
        if inode is None:
            raise _err(errno.ESTALE, f"node id {nodeid} is unknown")
        return inode

    def inode(self, nodeid: int) -> Inode:
        """The inode of node id `nodeid` (ESTALE if there is none)."""
        return self._inode(nodeid)

    def _children(self, inode: Inode) -> list[tuple[str, Inode]]:
        """(name, inode) of every entry of directory `inode`, in a stable order."""
        with self.lock:
            if inode.kind is Kind.META_DIR:
                return [(m.name, self._meta_file(m.name)) for m in self.maps.meta_files()]
            node = inode.node
            assert isinstance(node, Directory)
            out = []
            if inode.nodeid == ROOT_ID:
                out.append((META_DIR, self._meta_dir()))
            for name, child in list(node.children.items()):
                if inode.nodeid == ROOT_ID and name == META_DIR:
                    continue
                out.append((name, self._node_inode(child)))
            if self.writable is not None:
                out.extend(self.writable.children(inode.key))
            return out

    def _listing(self, inode: Inode) -> Listing:
        """The entries of directory `inode` as `_children` has them, with the namespace's
        nodes as they are (no inode is made here)."""
        if inode.kind is Kind.META_DIR:
            return list(self._children(inode))
        with self.lock:
            node = inode.node
            assert isinstance(node, Directory)
            out: Listing = list(node.children.items())
            if inode.nodeid == ROOT_ID:
                out = [(META_DIR, self._meta_dir())] + [e for e in out if e[0] != META_DIR]
            if self.writable is not None:
                out.extend(self.writable.children(inode.key))
            return out

    def _child(self, inode: Inode, name: str) -> Inode | None:
        with self.lock:
            if inode.kind is Kind.META_DIR:
                if self.maps.meta_file(name) is not None:
                    return self._meta_file(name)
                return None
            if inode.nodeid == ROOT_ID and name == META_DIR:
                return self._meta_dir()
            node = inode.node
            assert isinstance(node, Directory)
            child = node.children.get(name)
            if child is None:
                return None if self.writable is None else self.writable.child(inode.key, name)
            return self._node_inode(child)

    def _node_inode(self, node: Node) -> Inode:
        kind = Kind.DIR if isinstance(node, Directory) else Kind.FILE
        return self.inodes.ensure(node.relpath, kind, node)

    def _meta_dir(self) -> Inode:
        return self.inodes.ensure(META_DIR, Kind.META_DIR, None, mode=0o755)

    def _meta_file(self, name: str) -> Inode:
        key = f"{META_DIR}/{name}"
        inode = self.inodes.by_key(key)
        if inode is not None:
            return inode
        meta = self.maps.meta_file(name)
        assert meta is not None, name
        if meta.file_type == FileType.SUPERBLOCK:
            return self.inodes.ensure(key, Kind.META_FILE, None, mode=0o444, size=meta.size,
                                      extent=(meta.file_type, meta.offset, meta.length))
        # The log names every file with its owner, size and extents: only the mount's owner
        # (and root) may read it.
        mode = 0o600 if self.master and not self.options.readonly else 0o400
        return self.inodes.ensure(key, Kind.META_FILE, None, mode=mode, uid=self.owner_uid,
                                  gid=self.owner_gid, size=meta.size,
                                  extent=(meta.file_type, meta.offset, meta.length))

    def stat(self, inode: Inode) -> Stat:
        kind = inode.kind
        if kind is Kind.FILE or kind is Kind.META_FILE:
            nlink, size = 1, inode.file_size()
        else:
            node = inode.node
            if isinstance(node, Directory):
                subdirs = node.subdirs
                if inode.nodeid == ROOT_ID:
                    # .meta is a directory of the mount's own; a logged one of that name is
                    # not shown.
                    logged = node.children.get(META_DIR)
                    subdirs += 0 if isinstance(logged, Directory) else 1
            else:
                subdirs = sum(1 for _, c in self._children(inode) if c.is_dir)
            nlink, size = 2 + subdirs, 0
        uid, gid = inode.owner()
        return Stat(inode.nodeid, inode.file_mode(), nlink, uid, gid, size, inode.atime_ns,
                    inode.mtime_ns, inode.ctime_ns)

    @staticmethod
    def valid_for(inode: Inode) -> tuple[int, int]:
        """(entry, attributes): seconds the kernel may keep the name and the attributes of
        `inode` without asking again (LONG_VALID_S, SHORT_VALID_S)."""
        if inode.kind is Kind.FILE or inode.kind is Kind.META_FILE:
            return (LONG_VALID_S, LONG_VALID_S) if inode.pending is None \
                else (SHORT_VALID_S, SHORT_VALID_S)
        return LONG_VALID_S, SHORT_VALID_S

    def lookup(self, parent: int, name: str) -> tuple[Inode, Stat]:
        """The child `name` of directory `parent`; counts one kernel lookup of it."""
        dir_inode = self._inode(parent)
        if not dir_inode.is_dir:
            raise _err(errno.ENOTDIR)
        if len(name) > NAME_MAX // 4 and len(os.fsencode(name)) > NAME_MAX:
            raise _err(errno.ENAMETOOLONG)
        if name == ".":
            child: Inode | None = dir_inode
        else:
            # A logged file never changes and is never removed: found, it needs no replay.
            # Anything else may have been logged since the last replay (a missing name, a
            # directory made implicitly and claimed by a later entry, a file not logged yet).
            child = self._child(dir_inode, name)
            if self.master and (child is None or child.kind is not Kind.FILE
                                or child.pending is not None):
                self.sync()
                child = self._child(dir_inode, name)
        if child is None:
            raise _err(errno.ENOENT)
        self.inodes.remember(child)
        return child, self.stat(child)

    def forget(self, nodeid: int, nlookup: int) -> None:
        self.inodes.forget(nodeid, nlookup)

    def getattr(self, nodeid: int) -> tuple[Inode, Stat]:
        inode = self._inode(nodeid)
        self._maybe_sync(inode)
        return inode, self.stat(inode)

    def setattr(self, nodeid: int, changes: AttrChanges) -> Stat:
        """Change mode, owner or times in memory. A size change is refused (EINVAL). A file
        not logged yet may be resized, and its mode and owner are logged with it."""
        inode = self._inode(nodeid)
        pending = self._pending(nodeid)
        if pending is not None:
            return self._setattr_pending(pending, changes)
        if changes.size is not None and changes.size != inode.file_size():
            raise _err(errno.EINVAL, "famfs files cannot be truncated or resized")
        with self.lock:
            now = time.time_ns()
            if changes.mode is not None:
                inode.mode = changes.mode & 0o7777
            if changes.uid is not None:
                inode.uid = changes.uid
            if changes.gid is not None:
                inode.gid = changes.gid
            if changes.atime_ns is not None:
                inode.atime_ns = changes.atime_ns
            if changes.mtime_ns is not None:
                inode.mtime_ns = changes.mtime_ns
            inode.ctime_ns = changes.ctime_ns if changes.ctime_ns is not None else now
        return self.stat(inode)

    def _setattr_pending(self, pending: PendingFile, changes: AttrChanges) -> Stat:
        assert self.writable is not None
        inode = pending.inode
        if changes.size is not None and changes.size != pending.size:
            self.writable.resize(pending, changes.size)
        if changes.mode is not None or changes.uid is not None or changes.gid is not None:
            self.writable.set_attributes(pending, changes.mode, changes.uid, changes.gid)
        with self.lock:
            if changes.atime_ns is not None:
                inode.atime_ns = changes.atime_ns
            if changes.mtime_ns is not None:
                inode.mtime_ns = changes.mtime_ns
            inode.ctime_ns = changes.ctime_ns if changes.ctime_ns is not None \
                else time.time_ns()
        return self.stat(inode)

    def access(self, nodeid: int, mask: int, uid: int, gid: int) -> None:
        """access(2) check of `mask` (R_OK | W_OK | X_OK, or F_OK) for `uid`/`gid`."""
        inode = self._inode(nodeid)
        st = self.stat(inode)
        if mask & os.W_OK:
            if inode.is_dir:
                if self.writable is None or not is_directory_node(inode):
                    # nothing is created through this mount (or in .meta)
                    raise _err(errno.EROFS if self.options.readonly else errno.EACCES)
            else:
                try:
                    self._check_writable(inode)
                except OperationError as exc:
                    raise _err(errno.EROFS if exc.errno == errno.EROFS else errno.EACCES,
                               str(exc)) from None
        if uid == 0:
            if mask & os.X_OK and not st.mode & 0o111 and not inode.is_dir:
                raise _err(errno.EACCES)
            return
        if uid == st.uid:
            bits = (st.mode >> 6) & 7
        elif gid == st.gid:
            bits = (st.mode >> 3) & 7
        else:
            bits = st.mode & 7
        if mask & ~bits & 7:
            raise _err(errno.EACCES)

    # --- directories --------------------------------------------------------------------

    def opendir(self, nodeid: int) -> int:
        """A handle on a snapshot of the listing (offsets stay valid while it is open)."""
        inode = self._inode(nodeid)
        if not inode.is_dir:
            raise _err(errno.ENOTDIR)
        self._maybe_sync(inode)
        fh = next(self._dir_handle_ids)
        self._dir_handles[fh] = self._listing(inode)
        return fh

    def readdir(self, nodeid: int, fh: int, offset: int) -> Iterator[DirEntry]:
        """Entries from `offset` on: 0 is the start; `.` and `..` come first."""
        inode = self._inode(nodeid)
        listing = self._dir_handles.get(fh)
        if listing is None:
            listing = self._listing(inode)
        if offset < 1:
            yield ".", inode, 1
        if offset < 2:
            parent_key = inode.key.rsplit("/", 1)[0] if "/" in inode.key else ""
            yield "..", self.inodes.by_key(parent_key) or inode, 2
        for i in range(max(0, offset - 2), len(listing)):
            name, child = listing[i]
            yield name, child, i + 3

    def inodes_of(self, entries: list[Node | Inode], count_lookups: bool = False
                  ) -> list[Inode]:
        """The inodes of listed `entries` (see `readdir`), made in one pass; with
        `count_lookups`, one kernel lookup of each is counted (READDIRPLUS)."""
        return self.inodes.of_nodes(entries, count_lookups)

    def listed(self, fh: int) -> None:
        """Directory handle `fh` has been read to its end. Its subdirectories are likely
        listed next (a walk goes into them): their children are loaded ahead."""
        listing = self._dir_handles.get(fh)
        if listing:
            self.readahead.queue(c for _, c in listing if isinstance(c, Directory))

    def releasedir(self, fh: int) -> None:
        self._dir_handles.pop(fh, None)

    # --- files --------------------------------------------------------------------------

    def _check_writable(self, inode: Inode) -> None:
        """Raise unless `inode` may be opened for writing or written on this mount."""
        if self.options.readonly or not self.fs.device.writable:
            raise _err(errno.EROFS, "the mount is read-only")
        if inode.kind is Kind.META_FILE:
            if inode.extent is not None and inode.extent[0] == FileType.LOG and self.master:
                return
            raise _err(errno.EPERM, f"{inode.key}: only the master writes the log, and "
                       f"nothing writes the superblock")
        if inode.kind is not Kind.FILE:
            raise _err(errno.EISDIR)
        if inode.read_only_everywhere:
            raise _err(errno.EROFS, f"{inode.key}: the file is read-only on all hosts")

    def open(self, nodeid: int, flags: int) -> OpenFile:
        """Open a file (its map is parsed now, once per inode)."""
        inode = self._inode(nodeid)
        if inode.is_dir:
            raise _err(errno.EISDIR)
        if flags & os.O_ACCMODE != os.O_RDONLY:
            self._check_writable(inode)
        # The inode's own link, not `_pending`: a file being logged has left the pending
        # table already, and `opened` waits for the logging to end.
        pending = inode.pending
        if pending is None or not self._writable().opened(pending):  # type: ignore[arg-type]
            self.mapped(inode)
        return self._open_file(flags)

    def _open_file(self, flags: int) -> OpenFile:
        if self.options.cache != "direct":
            return OpenFile(0, direct_io=False, keep_cache=True)
        # An O_DIRECT opener never goes through the page cache, and the kernel's direct-I/O
        # path sends the requests of one large read or write at once (ASYNC_DIO), so that
        # several workers copy in parallel; everyone else gets FOPEN_DIRECT_IO, one request
        # at a time.
        return OpenFile(0, direct_io=not flags & os.O_DIRECT, keep_cache=False)

    def fmap_blob(self, nodeid: int) -> bytes:
        """The GET_FMAP reply of file `nodeid` (ENOENT for a directory)."""
        return self._fmap_blob(self._inode(nodeid))

    def _settled(self, inode: Inode) -> None:
        """Wait for a logging of the inode's file under way (a host that sees the file in the
        log gets its map here too). Callers hold no lock of the mount's."""
        pending = inode.pending
        if pending is not None:
            self._writable().settle(pending)  # type: ignore[arg-type]

    def _fmap_blob(self, inode: Inode) -> bytes:
        blob = inode.fmap_blob
        if blob is None:
            self._settled(inode)
            if inode.pending is not None:
                # Its map changes as it grows: none is handed out before it is logged, and
                # a kernel that asks at open falls back to READ and WRITE requests.
                raise _err(errno.ENODATA, f"{inode.key}: not logged yet, no map")
            if isinstance(inode.node, File):
                blob = self.maps.fmap_of(inode.node)
            elif inode.kind is Kind.META_FILE:
                blob = self.maps.get_fmap(inode.key)
            else:
                raise _err(errno.ENODATA)
            inode.fmap_blob = blob
        return blob

    def simple_fmap_blob(self, nodeid: int) -> bytes:
        """The map of file `nodeid` as simple extents only (the newest kernel revision; ENODATA
        for a directory, E2BIG for a file with more chunks than such a map holds)."""
        inode = self._inode(nodeid)
        self._settled(inode)
        if inode.kind not in (Kind.FILE, Kind.META_FILE) or inode.pending is not None:
            raise _err(errno.ENODATA)
        try:
            return self.maps.get_simple_fmap(inode.key)
        except FamfsError as exc:
            raise _err(errno.E2BIG, str(exc)) from None

    def daxdev_blob(self, index: int) -> bytes:
        """The GET_DAXDEV reply for device `index` (ENODATA if the log names no such device;
        ENODEV if this host has no such device)."""
        if index not in self.fs.device_sizes:
            self.sync()
            if index not in self.fs.device_sizes:
                raise _err(errno.ENODATA)
        return self.maps.get_daxdev(index)

    def device_path(self, index: int) -> str:
        """The local path of device `index` (what a push opens)."""
        return self.maps.device_path(index)

    def mapped(self, inode: Inode) -> MappedFile:
        """The inode's parsed map, made on first use (concurrent first uses may both parse;
        either result is the same)."""
        mf = inode.mapped
        if mf is None:
            mf = map_file(self._fmap_blob(inode))
            runs = list(mf.spans(0, mf.size)) if mf.size else []
            if len(runs) == 1:  # one run on one device: reads slice a view of it
                try:
                    (dev, addr, n), = list(self._device_runs(inode.key, runs))
                    self.inodes.views[inode.nodeid] = dev.buf[addr:addr + n]
                except FamfsError:
                    pass  # reads take the general path and report the problem
            inode.mapped = mf
        assert isinstance(mf, MappedFile)
        return mf

    def _runs(self, inode: Inode, offset: int, length: int
              ) -> Iterator[tuple[Device, int, int]]:
        """(device, device offset, length) of each run of file bytes [offset, offset + length),
        clipped to the file size, in file order (EIO for a device that cannot be opened or a
        run past its end)."""
        return self._device_runs(inode.key, self.mapped(inode).spans(offset, length))

    def _device_runs(self, key: str, maps: Iterable[IoMap]
                     ) -> Iterator[tuple[Device, int, int]]:
        devices = self.fs.devices
        for m in maps:
            try:
                dev = devices.device(m.dev)
            except FamfsError as exc:
                raise _err(errno.EIO, f"{key}: {exc}") from None
            if m.addr + m.length > dev.size:
                raise _err(errno.EIO, f"{key}: offset {m.offset} maps past the end of "
                           f"device {m.dev}")
            yield dev, m.addr, m.length

    def read(self, nodeid: int, offset: int, size: int) -> list[memoryview]:
        """Up to `size` bytes from `offset` as views of the device mappings (short at EOF).

        Nothing here touches the bytes: whoever sends them must let the kernel copy them
        (writev), so that a fault in a mapping (an image truncated or unbacked under the
        mount) is an error return, never a signal in this process."""
        inode = self.inodes.get(nodeid)
        if inode is None:
            raise _err(errno.ESTALE, f"node id {nodeid} is unknown")
        view = self.inodes.views.get(nodeid)
        if view is not None:
            return [view[offset:offset + size]]
        if inode.is_dir:
            raise _err(errno.EISDIR)
        pending = self._pending(nodeid)
        if pending is not None:
            return self._writable().read(pending, offset, size)
        return [dev.buf[addr:addr + n] for dev, addr, n in self._runs(inode, offset, size)]

    def write(self, nodeid: int, offset: int, data: memoryview) -> int:
        """Write `data` at `offset`, clipped to the file size (a logged file never grows; one
        made through the mount and not logged yet grows). Returns the bytes written; ENOSPC if
        none fit, or if the image's filesystem has no room for them; EIO if the image shrank
        under the mount."""
        inode = self._inode(nodeid)
        self._check_writable(inode)
        if not len(data):
            return 0
        pending = self._pending(nodeid)
        if pending is not None:
            try:
                return self._writable().write(pending, offset, data)
            except OSError:
                self.data_errors += 1
                raise
        if offset >= inode.file_size():
            raise _err(errno.ENOSPC, "famfs files cannot grow")
        done = 0
        try:
            for dev, addr, n in self._runs(inode, offset, len(data)):
                self._store(dev, addr, data[done:done + n])
                done += n
        except OSError:
            if done:
                return done  # a short write; the writer's next call gets the error
            self.data_errors += 1
            raise
        return done

    def _store(self, dev: Device, addr: int, data: memoryview) -> None:
        """Put `data` at byte `addr` of `dev` with `Device.pwrite`: on an image file, a full
        filesystem under a sparse image is ENOSPC, never a fault. An image that shrank since
        the mount is EIO (pwrite would silently grow it back)."""
        if not self.device_intact(dev):
            raise _err(errno.EIO, f"{dev.path}: the image is shorter than when it was mounted")
        dev.pwrite(addr, data)

    def fsync(self, nodeid: int) -> None:
        """Make the file's data durable and visible to other hosts (msync of its extents)."""
        inode = self._inode(nodeid)
        pending = self._pending(nodeid)
        if pending is not None:
            self._writable().flush(pending)
        elif isinstance(inode.node, File):
            self.fs.flush_file(inode.node)
        elif inode.extent is not None:
            self.fs.device.flush(inode.extent[1], inode.extent[2])

    def release(self, nodeid: int, fh: int) -> None:
        """Close of a file handle: the last one of a file made through the mount logs it."""
        pending = self._pending(nodeid)
        if pending is not None:
            self._writable().released(pending)

    def flush(self, nodeid: int, fh: int) -> None:
        """close(2) of a file descriptor: nothing is buffered here."""

    # --- filesystem ---------------------------------------------------------------------

    def statfs(self) -> FsStats:
        with self.lock:
            alloc = self.fs.allocator
            ns = self.fs.namespace
            return FsStats(alloc.capacity(), alloc.free(), alloc.alloc_unit,
                           ns.files + ns.directories, max(0, self._log_slots - self.fs.applied))

    # --- extended attributes -----------------------------------------------------------

    def listxattr(self, nodeid: int) -> list[str]:
        inode = self._inode(nodeid)
        if inode.kind in (Kind.FILE, Kind.META_FILE) and inode.pending is None:
            return [FMAP_XATTR]
        if inode.nodeid == ROOT_ID:
            return [LOGPLAY_XATTR] + [daxdev_xattr(i) for i in self.maps.device_indices()]
        return []

    def getxattr(self, nodeid: int, name: str, *, uid: int, pid: int = 0,
                 probe: bool = False) -> bytes:
        """The value of attribute `name` asked for by user `uid`; ENODATA if it has none,
        EOPNOTSUPP for a name outside the user namespace (XATTR_USER_PREFIX).

        Reading any attribute of a file needs read permission on it, which the kernel checks
        (the mount uses default_permissions). `user.famfs.logplay` replays the log, so only
        root and the mount's owner may read it (EACCES for anyone else); a size probe
        (`probe`) replays and keeps the result for the read from the same process that
        follows, so one getxattr(2) sequence replays once.
        """
        inode = self._inode(nodeid)
        if not name.startswith(XATTR_USER_PREFIX):
            raise _err(errno.EOPNOTSUPP, f"{name}: no attributes outside the "
                       f"{XATTR_USER_PREFIX} namespace")
        if name == FMAP_XATTR and inode.kind in (Kind.FILE, Kind.META_FILE):
            return self._fmap_blob(inode)
        if inode.nodeid == ROOT_ID and name == LOGPLAY_XATTR:
            if uid not in (0, self.owner_uid):
                raise _err(errno.EACCES, "only root and the mount's owner replay the log")
            return self._logplay(pid, probe)
        index = daxdev_index(name) if inode.nodeid == ROOT_ID else None
        if index is not None:
            return self.daxdev_blob(index)
        raise _err(errno.ENODATA)

    def _logplay(self, pid: int, probe: bool) -> bytes:
        now = time.monotonic()
        with self.lock:
            kept = self._logplay_probes.pop(pid, None)
            if kept is not None and not probe and now - kept[0] < self.LOGPLAY_PROBE_TTL:
                return kept[1]
            try:
                stats = self.replay()
            except FamfsError as exc:
                self._replay_failed(exc)
                raise _err(getattr(exc, "errno", errno.EIO), str(exc)) from None
            value = LogplayReply(stats.entries, stats.new_files, stats.new_directories).encode()
            if probe:
                self._logplay_probes[pid] = (now, value)
            return value

    # --- making names (famfs.fuse.writable) ----------------------------------------------

    def _pending(self, nodeid: int) -> PendingFile | None:
        """The file made through this mount, not logged yet, with node id `nodeid`."""
        writable = self.writable
        return None if writable is None else writable.pending.get(nodeid)

    def _writable(self, operation: str = "create") -> WritableNamespace:
        """The writable namespace, or the refusal of `operation` where there is none: EROFS on
        a read-only mount, EPERM on a client and with --no-create."""
        if self.writable is not None:
            return self.writable
        if self.options.readonly or not self.fs.device.writable:
            raise _err(errno.EROFS, "the mount is read-only")
        if not self.master:
            raise _err(errno.EPERM, f"this host is a client of the famfs on {self.fs.path}: "
                       f"only its master makes files and directories")
        raise _err(self.REFUSED.get(operation, errno.EPERM),
                   f"{operation}: this mount was made with --no-create")

    def _new_name_in(self, parent: int, name: str, operation: str
                     ) -> tuple[WritableNamespace, Inode]:
        writable = self._writable(operation)
        dir_inode = self._inode(parent)
        if not dir_inode.is_dir:
            raise _err(errno.ENOTDIR)
        if len(os.fsencode(name)) > NAME_MAX:
            raise _err(errno.ENAMETOOLONG)
        if not is_directory_node(dir_inode):
            raise _err(errno.EPERM, f"{dir_inode.key}: nothing is made in {META_DIR}")
        return writable, dir_inode

    def _made(self, inode: Inode) -> tuple[Inode, Stat]:
        self.inodes.remember(inode)
        return inode, self.stat(inode)

    def create(self, parent: int, name: str, flags: int, mode: int, uid: int, gid: int
               ) -> tuple[Inode, Stat, OpenFile]:
        """CREATE: a new file `name` in `parent`, open (its mode with the umask applied; the
        caller's uid and gid). It is logged when its last open is released."""
        writable, dir_inode = self._new_name_in(parent, name, "create")
        pending = writable.create(dir_inode, name, mode, uid, gid)
        inode, st = self._made(pending.inode)
        return inode, st, self._open_file(flags)

    def mknod(self, parent: int, name: str, mode: int, uid: int, gid: int
              ) -> tuple[Inode, Stat]:
        """MKNOD of a regular file: an empty file, logged at once. Other types: EPERM."""
        writable, dir_inode = self._new_name_in(parent, name, "mknod")
        if not stat.S_ISREG(mode):
            raise _err(errno.EPERM, "famfs holds regular files and directories only")
        return self._made(writable.mknod(dir_inode, name, mode, uid, gid))

    def mkdir(self, parent: int, name: str, mode: int, uid: int, gid: int
              ) -> tuple[Inode, Stat]:
        """MKDIR: log directory `name` in `parent` now."""
        writable, dir_inode = self._new_name_in(parent, name, "mkdir")
        return self._made(writable.mkdir(dir_inode, name, mode, uid, gid))

    def _existing(self, parent: int, name: str) -> Inode:
        dir_inode = self._inode(parent)
        if not dir_inode.is_dir:
            raise _err(errno.ENOTDIR)
        child = self._child(dir_inode, name)
        if child is None:
            raise _err(errno.ENOENT)
        return child

    def unlink(self, parent: int, name: str) -> None:
        """UNLINK of a file not logged yet (it never will be); a logged name: EPERM."""
        writable = self._writable("unlink")
        child = self._existing(parent, name)
        pending = child.pending
        if not isinstance(pending, PendingFile):
            raise _err(errno.EPERM, f"{child.key}: logged files are never removed")
        writable.unlink(pending)

    def rename(self, parent: int, name: str, new_parent: int, new_name: str,
               flags: int = 0) -> None:
        """RENAME of a file not logged yet, replacing a file not logged yet (not with
        RENAME_NOREPLACE). Logged names are never renamed or replaced (EPERM, EEXIST);
        RENAME_EXCHANGE and RENAME_WHITEOUT are EINVAL."""
        writable = self._writable("rename")
        if flags & ~RENAME_NOREPLACE:
            raise _err(errno.EINVAL, f"rename flags {flags:#x} are not supported")
        child = self._existing(parent, name)
        pending = child.pending
        if not isinstance(pending, PendingFile):
            raise _err(errno.EPERM, f"{child.key}: logged files and directories are never "
                       f"renamed")
        _, dir_inode = self._new_name_in(new_parent, new_name, "rename")
        writable.rename(pending, dir_inode, new_name, bool(flags & RENAME_NOREPLACE))

    def fallocate(self, nodeid: int, offset: int, length: int, mode: int) -> None:
        """FALLOCATE. A file not logged yet gets exactly the space it lacks (see
        WritableNamespace.fallocate). A logged file has its space: a range within its size
        is there already; past it is EFBIG (logged files never grow)."""
        inode = self._inode(nodeid)
        self._check_writable(inode)
        pending = self._pending(nodeid)
        if pending is not None:
            self._writable().fallocate(pending, offset, length, mode)
            return
        if mode & ~FALLOC_FL_KEEP_SIZE:
            raise _err(errno.EOPNOTSUPP, f"{inode.key}: fallocate mode {mode:#x} on a logged "
                       f"file")
        if offset + length > inode.file_size():
            raise _err(errno.EFBIG, f"{inode.key}: logged files never grow")

    # --- refused by design --------------------------------------------------------------

    REFUSED = {
        "create": errno.EPERM,
        "mknod": errno.EPERM,
        "mkdir": errno.EPERM,
        "symlink": errno.EPERM,
        "link": errno.EPERM,
        "unlink": errno.EPERM,
        "rmdir": errno.EPERM,
        "rename": errno.EPERM,
        "setxattr": errno.ENOTSUP,
        "removexattr": errno.ENOTSUP,
        "fallocate": errno.ENOTSUP,
        "tmpfile": errno.EPERM,
    }
    """Operations famfs does not do through the filesystem, and the errno each gets: all of
    them where the mount makes nothing (a client, --no-create; there files and directories are
    created by the famfs CLI, which logs them), the ones that would change logged names
    everywhere. Nothing logged is ever removed or renamed."""

    def refuse(self, operation: str) -> None:
        """Raise the errno for a refused `operation` (nothing on the device changes)."""
        raise _err(self.REFUSED.get(operation, errno.ENOSYS),
                   f"{operation} is not supported on famfs")


def mode_type(st: Stat) -> int:
    """The DT_* type of a directory entry (st_mode >> 12)."""
    return stat.S_IFMT(st.mode) >> 12
