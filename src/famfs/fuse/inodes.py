"""Node ids of a mount and the attributes it holds in memory.

Every name a mount has shown gets a node id for the mount's life (ids are never reused, so the
generation is always 0; a file made through the mount and renamed or removed before it was
logged keeps its id under its new name, or under none). The root is node id 1. Attributes start
from the log (mode, uid, gid, size) and from the mount time (atime, mtime, ctime), or from the
creating call for what the mount made; SETATTR changes of logged files are kept here, in memory,
and never reach the device.
"""

from __future__ import annotations

import gc
import stat
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from famfs.fs.namespace import Directory, File, Node
from famfs.omf.layout import ALLOC_UNIT, FILE_FLAG_ALL_HOSTS_RO

ROOT_ID = 1
BLOCK_SIZE = 512
"""Unit of st_blocks."""
FREEZE_AFTER = 64
"""With `freeze_gc`, once a listing, or lookups one by one, have made at least this many inodes,
the objects alive are moved out of the garbage collector's way (gc.freeze): inodes and namespace
nodes live as long as the mount, and the collector's repeated passes over hundreds of thousands
of them cost more than making them. (Reference cycles that are garbage at that moment are never
collected, which is why only a server that owns its process asks for it.)"""


class Kind(Enum):
    DIR = "dir"
    FILE = "file"
    META_DIR = "meta-dir"
    META_FILE = "meta-file"


class Stat(NamedTuple):
    """What stat(2) reports for a node: sizes in bytes, times in nanoseconds since the epoch.
    (A tuple: one is made for every entry of every listing.)"""

    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    blksize: int = ALLOC_UNIT

    @property
    def blocks(self) -> int:
        return -(-self.size // BLOCK_SIZE)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


@dataclass(slots=True)
class Inode:
    """One node id. `key` is its path in the mount ('' for the root, '.meta/.log', ...).

    `node` is the namespace node for logged files and directories (None for the synthetic
    `.meta` entries, which carry `mode`, `size` and `extent` themselves). `mode`, `uid` and
    `gid` set here override the log's values.
    """

    nodeid: int
    key: str
    kind: Kind
    node: Node | None = None
    size: int = 0
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    nlookup: int = 0
    fmap_blob: bytes | None = None
    mapped: object | None = None
    """The parsed map (famfs.mapping.MappedFile), made on first open."""
    extent: tuple[int, int, int] | None = field(default=None)
    """(file type, device offset, length) of a metadata file."""
    pending: object | None = None
    """A file made through this mount and not logged yet (famfs.fuse.writable.PendingFile):
    its size is the pending file's, and it has no map to hand out."""

    @property
    def is_dir(self) -> bool:
        return self.kind is Kind.DIR or self.kind is Kind.META_DIR

    @property
    def read_only_everywhere(self) -> bool:
        """Whether the log marks this file read-only on all hosts (FILE_FLAG_ALL_HOSTS_RO)."""
        return isinstance(self.node, File) and bool(self.node.flags & FILE_FLAG_ALL_HOSTS_RO)

    def file_mode(self) -> int:
        """Full st_mode: type bits and permission bits. A file read-only on all hosts never
        shows write bits, whatever its logged or changed mode says."""
        node = self.node
        perm = self.mode
        if perm is None:
            perm = node.mode if node is not None else (0o755 if self.is_dir else 0o444)
        if self.kind is Kind.FILE or self.kind is Kind.META_FILE:
            if isinstance(node, File) and node.flags & FILE_FLAG_ALL_HOSTS_RO:
                perm &= ~0o222
            return stat.S_IFREG | (perm & 0o7777)
        return stat.S_IFDIR | (perm & 0o7777)

    def owner(self) -> tuple[int, int]:
        node = self.node
        uid, gid = self.uid, self.gid
        if uid is None:
            uid = node.uid if node is not None else 0
        if gid is None:
            gid = node.gid if node is not None else 0
        return uid, gid

    def file_size(self) -> int:
        pending = self.pending
        if pending is not None:
            return pending.size  # type: ignore[attr-defined, no-any-return]
        node = self.node
        if isinstance(node, File):
            return node.size
        return self.size


class InodeTable:
    """Node ids by id and by path; thread-safe. Ids start at 2 (1 is the root)."""

    def __init__(self, freeze_gc: bool = False) -> None:
        self.freeze_gc = freeze_gc
        """Whether big listings gc.freeze the process (see FREEZE_AFTER)."""
        self._lock = threading.Lock()
        self._by_id: dict[int, Inode] = {}
        self._by_key: dict[str, Inode] = {}
        self._next = ROOT_ID + 1
        self._unfrozen = 0
        """Inodes made one at a time (`ensure`) since the last gc.freeze."""
        self.epoch_ns = time.time_ns()
        self.views: dict[int, memoryview] = {}
        """Node id -> the file's bytes in the device mapping, for open files that are one run
        on device 0 (reads slice it, with no map lookup); dropped with the parsed map."""

    def add_root(self, node: Directory) -> Inode:
        return self._add(ROOT_ID, "", Kind.DIR, node)

    def _add(self, nodeid: int, key: str, kind: Kind, node: Node | None, **extra: object
             ) -> Inode:
        now = self.epoch_ns
        if extra:
            inode = Inode(nodeid, key, kind, node, atime_ns=now, mtime_ns=now, ctime_ns=now,
                          **extra)  # type: ignore[arg-type]
        else:  # a logged node (positional: one is made for every name the kernel looks up)
            inode = Inode(nodeid, key, kind, node, 0, None, None, None, now, now, now)
        self._by_id[nodeid] = inode
        self._by_key[key] = inode
        return inode

    def get(self, nodeid: int) -> Inode | None:
        return self._by_id.get(nodeid)

    def by_key(self, key: str) -> Inode | None:
        return self._by_key.get(key)

    def ensure(self, key: str, kind: Kind, node: Node | None, **extra: object) -> Inode:
        """The inode of path `key`, made on first sight. A namespace node seen again under
        the same path replaces the old one (an implicit directory that got its log entry)."""
        inode = self._by_key.get(key)  # seen before: no lock (a dict lookup is atomic)
        if inode is not None and (node is None or inode.node is node):
            return inode
        with self._lock:
            inode = self._by_key.get(key)
            if inode is None:
                inode = self._add(self._next, key, kind, node, **extra)
                self._next += 1
                if self.freeze_gc:
                    self._unfrozen += 1
                    if self._unfrozen >= FREEZE_AFTER:
                        self._unfrozen = 0
                        gc.freeze()
            elif node is not None and inode.node is not node:
                inode.node = node
            return inode

    def rekey(self, inode: Inode, key: str | None) -> None:
        """Show `inode` under path `key` from now on (a pending file renamed), or under no path
        (`None`: a pending file removed; its node id stays valid for the opens it still has)."""
        with self._lock:
            if self._by_key.get(inode.key) is inode:
                del self._by_key[inode.key]
            if key is not None:
                inode.key = key
                self._by_key[key] = inode

    def of_nodes(self, items: list[Node | Inode], count_lookups: bool = False) -> list[Inode]:
        """The inode of each of `items`: inodes as they are, namespace nodes as `ensure`
        gives them (made on first sight), all in one pass under the lock; with
        `count_lookups`, one kernel lookup of each is counted too."""
        by_key = self._by_key
        out: list[Inode] = []
        made = 0
        with self._lock:
            for item in items:
                if isinstance(item, Inode):
                    inode = item
                else:
                    key = item.relpath
                    found = by_key.get(key)
                    if found is None:
                        kind = Kind.DIR if isinstance(item, Directory) else Kind.FILE
                        found = self._add(self._next, key, kind, item)
                        self._next += 1
                        made += 1
                    elif found.node is not item:
                        found.node = item
                    inode = found
                if count_lookups:
                    inode.nlookup += 1
                out.append(inode)
        if self.freeze_gc and made >= FREEZE_AFTER:
            gc.freeze()
        return out

    def remember(self, inode: Inode, count: int = 1) -> None:
        """Count `count` kernel lookups of `inode` (FORGET gives them back)."""
        with self._lock:
            inode.nlookup += count

    def forget(self, nodeid: int, count: int) -> None:
        """The kernel dropped `count` lookups. Inodes stay (names never go away in famfs),
        but the parsed map of an unreferenced file is released."""
        with self._lock:
            inode = self._by_id.get(nodeid)
            if inode is None:
                return
            inode.nlookup = max(0, inode.nlookup - count)
            if inode.nlookup == 0 and inode.nodeid != ROOT_ID:
                inode.mapped = None
                self.views.pop(nodeid, None)

    def __len__(self) -> int:
        return len(self._by_id)
