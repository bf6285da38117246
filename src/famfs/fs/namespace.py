"""The namespace: directories and files built by replaying log entries in order.

Replay keeps the namespace as a table of node ids (0 is the root): for each node, the log entry
that made it (-1 for the root and for directories made implicitly as parents), its parent and
whether it is a directory; names are found by path. Node objects (`File`, `Directory`) are made
only when asked for, and a directory's children only when they are listed, so looking up one
path never builds the whole tree. The table's frozen part (`NodeArrays`) can come from a
host-local index of the log (famfs.fs.index); entries replayed after it are appended in memory.

The replay rules, whatever the table came from: missing parents are made implicitly (mode
0755, owner 0); a MKDIR entry at an implicit directory's path gives it that entry; any other
path that exists already, or whose parent is a file, is a `Conflict` and is skipped.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from famfs.errors import ExistsError, NotDirectoryError, NotFoundError
from famfs.log import EntryHead, FileHeads
from famfs.omf.log import FileEntry, MkdirEntry


class EntrySource(Protocol):
    """Where a namespace reads the entries its frozen nodes came from (famfs.log.MetadataLog
    is one), for entries a replay has checked already."""

    def entry_head(self, index: int) -> EntryHead: ...

    def file_heads(self, indices: Sequence[int]) -> FileHeads: ...

    def file_entry(self, index: int) -> FileEntry: ...


class Node:
    """A name in the filesystem. `index` is the log entry that made it (None: implicit);
    `mode` holds permission bits only."""

    __slots__ = ("relpath", "mode", "uid", "gid", "index")

    def __init__(self, relpath: str, mode: int, uid: int, gid: int, index: int | None) -> None:
        self.relpath = relpath
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.index = index

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.relpath!r}, mode={self.mode:o}, index={self.index})"


class ChildLoader(Protocol):
    """How a directory whose children are not loaded yet gets them (the namespace's)."""

    def prepare(self) -> object:
        """The costly part of `load` (reading entries), done without any lock: it only reads
        what never changes. Its result is handed to `load`."""
        ...

    def load(self, prepared: object | None = None) -> dict[str, Node]:
        """The children by name, in the order they were made (`prepared`: from `prepare`)."""
        ...

    def count(self) -> int:
        """How many children are directories, without loading them."""
        ...


class Directory(Node):
    """A directory; `children` (name -> Node, in the order the log made them) is filled on
    first use, by its `ChildLoader`. New children go in through `adopt`, which keeps
    `subdirs` counted."""

    __slots__ = ("_children", "_loader", "_subdirs")

    def __init__(self, relpath: str, mode: int, uid: int, gid: int, index: int | None,
                 children: dict[str, Node] | None = None,
                 loader: ChildLoader | None = None) -> None:
        super().__init__(relpath, mode, uid, gid, index)
        self._loader = loader
        self._children = children if children is not None or loader is not None else {}
        self._subdirs: int | None = None

    @property
    def children(self) -> dict[str, Node]:
        kids = self._children
        if kids is None:
            self.load()
            kids = self._children
            assert kids is not None
        return kids

    def prepare(self) -> object | None:
        """`ChildLoader.prepare` for a directory not loaded yet (else None): may run
        without the lock that `load` is called under."""
        loader = self._loader
        return None if loader is None or self._children is not None else loader.prepare()

    def load(self, prepared: object | None = None) -> None:
        """Fill `children` now, if that has not been done (`prepared`: from `prepare`)."""
        if self._children is None:
            assert self._loader is not None
            self._children = self._loader.load(prepared)
            self._loader = None

    @property
    def loaded(self) -> bool:
        """Whether `children` has been filled already."""
        return self._children is not None

    @property
    def subdirs(self) -> int:
        """How many children are directories (children not loaded yet are counted where they
        are, and stay unloaded)."""
        if self._subdirs is None:
            loader = self._loader
            if self._children is None and loader is not None:
                return loader.count()
            self._subdirs = sum(1 for c in self.children.values() if isinstance(c, Directory))
        return self._subdirs

    def adopt(self, node: Node) -> None:
        """Add `node` to the children."""
        self.children[node.name] = node
        if self._subdirs is not None and isinstance(node, Directory):
            self._subdirs += 1


class File(Node):
    """A file; its log entry (`entry`, with the map) is decoded on first use."""

    __slots__ = ("_entry", "_source", "_size", "_flags")

    def __init__(self, relpath: str, mode: int, uid: int, gid: int, index: int | None,
                 entry: FileEntry | None = None, source: EntrySource | None = None,
                 size: int = 0, flags: int = 0) -> None:
        # Node's fields set here, not through Node.__init__: a directory's first lookup makes
        # one File per child.
        self.relpath = relpath
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.index = index
        self._entry = entry
        self._source = source
        self._size = size
        self._flags = flags

    @property
    def entry(self) -> FileEntry:
        e = self._entry
        if e is None:
            assert self._source is not None and self.index is not None, \
                "file node without an entry"
            e = self._entry = self._source.file_entry(self.index)
        return e

    @entry.setter
    def entry(self, value: FileEntry) -> None:
        self._entry = value

    @property
    def size(self) -> int:
        e = self._entry
        return e.size if e is not None else self._size

    @property
    def flags(self) -> int:
        """The entry's flags (FILE_FLAG_ALL_HOSTS_RO / _RW), without decoding its map."""
        e = self._entry
        return e.flags if e is not None else self._flags


@dataclass(frozen=True)
class Conflict:
    """A log entry whose path could not be applied (a duplicate, or a parent that is a file)."""

    index: int
    relpath: str
    reason: str


def path_hash(raw: bytes) -> int:
    """The 64-bit hash of a path's bytes that frozen node tables are searched by."""
    return (zlib.crc32(raw) << 32) | zlib.adler32(raw)


@dataclass
class NodeArrays:
    """The frozen part of a node table: nodes [0, len) (0 is the root).

    `entry[n]`: log index that made node n, -1 if implicit (the root too); `parent[n]`;
    `is_dir[n]`; `child_start`/`child_ids`: node n's children are
    child_ids[child_start[n]:child_start[n + 1]], in the order they were made;
    `hashes`/`hash_nodes`: path_hash of every node but the root, sorted, and the node of each;
    `implicit`: the path of every implicit directory but the root.
    """

    entry: np.ndarray
    parent: np.ndarray
    is_dir: np.ndarray
    child_start: np.ndarray
    child_ids: np.ndarray
    hashes: np.ndarray
    hash_nodes: np.ndarray
    implicit: dict[int, str]

    def __len__(self) -> int:
        return len(self.entry)

    @classmethod
    def empty(cls) -> NodeArrays:
        return cls(np.array([-1], dtype=np.int32), np.array([0], dtype=np.int32),
                   np.array([True]), np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int32),
                   np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32), {})


ROOT = 0


class Namespace:
    """The tree of directories and files; the root has relpath ''.

    `frozen` (optional) is a node table that an index restored, whose nodes are read from
    `source`; `counts` are its (files, directories, file bytes) and `conflicts` its conflicts.
    """

    def __init__(self, root_mode: int = 0o755, root_uid: int = 0, root_gid: int = 0,
                 frozen: NodeArrays | None = None, source: EntrySource | None = None,
                 counts: tuple[int, int, int] = (0, 0, 0),
                 conflicts: Iterable[Conflict] = ()) -> None:
        self.frozen = frozen if frozen is not None else NodeArrays.empty()
        self.source = source
        self.files, self.directories, self.file_bytes = counts
        self.conflicts: list[Conflict] = list(conflicts)
        self._base = len(self.frozen)
        # Nodes added since the frozen part (ids from _base on); `_by_path` finds them and
        # every frozen node found once already.
        self._entry: list[int] = []
        self._parent: list[int] = []
        self._is_dir: list[bool] = []
        self._paths: list[str] = []
        self._by_path: dict[str, int] = {}
        self._claimed: dict[int, int] = {}
        """Frozen implicit directories given an entry since (node -> log index)."""
        self._added_children: dict[int, list[int]] = {}
        self._not_frozen: dict[str, int] = {}
        """Paths known not to be in the frozen table, with their path_hash."""
        """Paths the frozen table was searched for and does not have (it never changes)."""
        self._made: dict[int, Node] = {}
        self.root = Directory("", root_mode, root_uid, root_gid, None,
                              loader=_Children(self, ROOT))
        self._made[ROOT] = self.root

    # --- the table ----------------------------------------------------------------------

    def __len__(self) -> int:
        """Nodes, the root included."""
        return self._base + len(self._entry)

    def _is_dir_of(self, nid: int) -> bool:
        if nid < self._base:
            return bool(self.frozen.is_dir[nid])
        return self._is_dir[nid - self._base]

    def _entry_of(self, nid: int) -> int:
        if nid < self._base:
            claimed = self._claimed.get(nid)
            return int(self.frozen.entry[nid]) if claimed is None else claimed
        return self._entry[nid - self._base]

    def _parent_of(self, nid: int) -> int:
        if nid < self._base:
            return int(self.frozen.parent[nid])
        return self._parent[nid - self._base]

    def _path_of(self, nid: int) -> str:
        if nid == ROOT:
            return ""
        if nid >= self._base:
            return self._paths[nid - self._base]
        path = self.frozen.implicit.get(nid)
        if path is not None:
            return path
        assert self.source is not None
        return self.source.entry_head(int(self.frozen.entry[nid])).relpath

    def node_id(self, relpath: str) -> int | None:
        """The node id of normalized path `relpath` ('' is the root), or None."""
        if not relpath:
            return ROOT
        nid = self._by_path.get(relpath)
        if nid is not None:
            return nid
        hashes = self.frozen.hashes
        if not len(hashes) or self.source is None or relpath in self._not_frozen:
            return None
        h = path_hash(os.fsencode(relpath))
        pos = int(hashes.searchsorted(np.uint64(h)))
        while pos < len(hashes) and int(hashes[pos]) == h:
            cand = int(self.frozen.hash_nodes[pos])
            if self._path_of(cand) == relpath:
                self._by_path[relpath] = cand
                return cand
            pos += 1
        if len(self._not_frozen) >= 100_000:
            self._not_frozen.clear()
        self._not_frozen[relpath] = h
        return None

    def prefetch(self, relpaths: Iterable[str]) -> None:
        """Look `relpaths` up in the frozen table at once (one sorted search for all), so
        that `find` and `node_id` of each answer from memory. Paths that are not plain
        normalized paths are left to those."""
        hashes = self.frozen.hashes
        if not len(hashes) or self.source is None:
            return
        by_path, missing = self._by_path, self._not_frozen
        todo: list[str] = []
        raws: list[bytes] = []
        for path in relpaths:
            if path in by_path or path in missing or self._normalize(path) != path or not path:
                continue
            try:
                raws.append(os.fsencode(path))
            except UnicodeEncodeError:
                continue
            todo.append(path)
        if not todo:
            return
        wanted = np.array([path_hash(raw) for raw in raws], dtype=np.uint64)
        pos = hashes.searchsorted(wanted).tolist()
        found = hashes[np.minimum(pos, len(hashes) - 1)] == wanted
        if len(missing) + len(todo) >= 100_000:
            missing.clear()
        for path, at, hit, h in zip(todo, pos, found.tolist(), wanted.tolist(), strict=True):
            if not hit:
                missing[path] = h
                continue
            while at < len(hashes) and int(hashes[at]) == h:
                cand = int(self.frozen.hash_nodes[at])
                if self._path_of(cand) == path:
                    by_path[path] = cand
                    break
                at += 1
            else:
                missing[path] = h

    def _frozen_children(self, nid: int) -> np.ndarray:
        """Ids of the children of node `nid` that are in the frozen table, in order."""
        if nid >= self._base:
            return self.frozen.child_ids[:0]
        start = self.frozen.child_start
        return self.frozen.child_ids[start[nid]:start[nid + 1]]

    def _subdir_count(self, nid: int) -> int:
        """How many children of node `nid` are directories."""
        frozen = int(np.count_nonzero(self.frozen.is_dir[self._frozen_children(nid)]))
        base = self._base
        return frozen + sum(1 for c in self._added_children.get(nid, ()) if self._is_dir[c - base])

    def _new_node(self, index: int, parent: int, is_dir: bool, relpath: str) -> int:
        nid = self._base + len(self._entry)
        self._entry.append(index)
        self._parent.append(parent)
        self._is_dir.append(is_dir)
        self._paths.append(relpath)
        self._by_path[relpath] = nid
        kids = self._added_children.get(parent)
        if kids is None:
            self._added_children[parent] = [nid]
        else:
            kids.append(nid)
        return nid

    # --- node objects -------------------------------------------------------------------

    def node(self, nid: int) -> Node:
        """The Node object of node id `nid` (one object per node). Directories are kept by
        id; a file lives only in its parent's children, which are listed for it."""
        made = self._made.get(nid)
        if made is not None:
            return made
        if not self._is_dir_of(nid):
            parent = self.node(self._parent_of(nid))
            assert isinstance(parent, Directory)
            found = parent.children.get(self._path_of(nid).rpartition("/")[2])
            assert found is not None, f"node {nid} is missing from its directory"
            return found
        index = self._entry_of(nid)
        node: Node
        if index < 0:
            node = Directory(self._path_of(nid), 0o755, 0, 0, None,
                             loader=_Children(self, nid))
        else:
            assert self.source is not None
            head = self.source.entry_head(index)
            node = Directory(head.relpath, head.mode & 0o7777, head.uid, head.gid, index,
                             loader=_Children(self, nid))
        self._made[nid] = node
        return node

    def _file_nodes(self, indices: list[int]) -> list[tuple[str, File]]:
        """(name, node) of the files of FILE entries `indices`, their heads read at once."""
        source = self.source
        assert source is not None
        paths, modes, uids, gids, sizes, flags = source.file_heads(indices)
        return [(path.rpartition("/")[2], File(path, mode & 0o7777, uid, gid, index, None,
                                               source, size, flag))
                for path, mode, uid, gid, size, flag, index
                in zip(paths, modes, uids, gids, sizes, flags, indices, strict=True)]

    def _frozen_files(self, nid: int) -> list[tuple[str, File]]:
        """(name, node) of the file children of node `nid` in the frozen table (which never
        changes: safe without any lock)."""
        ids = self._frozen_children(nid)
        if not len(ids):
            return []
        return self._file_nodes(self.frozen.entry[ids[self.frozen.is_dir[ids] == 0]].tolist())

    def _load_children(self, nid: int, frozen_files: list[tuple[str, File]] | None = None
                       ) -> dict[str, Node]:
        """Node objects of the children of node `nid`, by name in the order they were made
        (see `Directory.children`); `frozen_files`: `_frozen_files(nid)` made already."""
        ids = self._frozen_children(nid)
        is_dir = self.frozen.is_dir[ids]
        added = self._added_children.get(nid, [])
        if not added and not is_dir.any():  # files only, all frozen: in table order already
            return dict(frozen_files if frozen_files is not None else self._frozen_files(nid))
        kids, dirs = ids.tolist(), is_dir.tolist()
        files = iter(frozen_files if frozen_files is not None else self._frozen_files(nid))
        base = self._base
        added_dirs = [self._is_dir[c - base] for c in added]
        kids.extend(added)
        dirs.extend(added_dirs)
        added_files = iter(self._file_nodes([self._entry[c - base] for c, d
                                             in zip(added, added_dirs, strict=True) if not d]))
        out: dict[str, Node] = {}
        for child, is_dir in zip(kids, dirs, strict=True):
            if is_dir:
                node = self.node(child)
                out[node.name] = node
            else:
                name, file = next(files) if child < base else next(added_files)
                out[name] = file
        return out

    def _attach(self, nid: int, node: Node) -> None:
        """Node `nid` was just added: put its object in its parent's loaded children."""
        parent = self._made.get(self._parent_of(nid))
        if isinstance(parent, Directory) and parent.loaded:
            parent.adopt(node)

    # --- lookups ------------------------------------------------------------------------

    @staticmethod
    def _normalize(relpath: str) -> str:
        if "//" not in relpath and "." not in relpath and not relpath.startswith("/") \
                and not relpath.endswith("/"):
            return relpath
        return "/".join(p for p in relpath.strip("/").split("/") if p not in ("", "."))

    def lookup(self, relpath: str) -> Node:
        """The node at `relpath` ('' is the root); NotFoundError or NotDirectoryError."""
        found = self.find(relpath)
        if found is not None:
            return found
        parts = self._normalize(relpath).split("/")
        for depth in range(1, len(parts)):
            nid = self.node_id("/".join(parts[:depth]))
            if nid is None:
                break
            if not self._is_dir_of(nid):
                raise NotDirectoryError(f"{relpath}: {self._path_of(nid)} is not a directory")
        raise NotFoundError(f"{relpath}: no such file or directory")

    def find(self, relpath: str) -> Node | None:
        """The node at `relpath`, or None where lookup would raise."""
        nid = self.node_id(self._normalize(relpath))
        return None if nid is None else self.node(nid)

    # --- replay -------------------------------------------------------------------------

    def _parent_id(self, relpath: str) -> int | str:
        """The node id of the parent directory of `relpath`, made implicitly where missing,
        or the reason it cannot be (a component is a file)."""
        parts = relpath.split("/")[:-1]
        nid = ROOT
        for depth in range(len(parts)):
            sub = "/".join(parts[:depth + 1])
            child = self.node_id(sub)
            if child is None:
                child = self._new_node(-1, nid, True, sub)
                self.directories += 1
                up = self._made.get(nid)
                if isinstance(up, Directory) and up.loaded:
                    self._attach(child, self.node(child))
            elif not self._is_dir_of(child):
                return f"{relpath}: {sub} is a file, not a directory"
            nid = child
        return nid

    def add(self, index: int, is_dir: bool, relpath: str, mode: int, uid: int, gid: int,
            size: int = 0, payload: FileEntry | None = None, flags: int = 0) -> int | None:
        """Add the file or directory of log entry `index`; its node id, or None for a
        conflict (recorded). A node object is made only where its directory has listed its
        children already; a file given with its `payload` has its directory listed first."""
        return self._add(index, is_dir, relpath, mode, uid, gid, size, payload, flags)[0]

    def add_files(self, first: int, payloads: Sequence[FileEntry]) -> list[Node | None]:
        """Add the FILE entries `first`, `first + 1`, ... (see `add`): the node of each, or
        None for a conflict. A file whose parent is a directory with a node object and
        whose path is not taken is added here at once, as `add` would add it; any other
        goes through `add`."""
        out: list[Node | None] = []
        by_path, made, base = self._by_path, self._made, self._base
        entries, parents, is_dir, paths = self._entry, self._parent, self._is_dir, self._paths
        added, source = self._added_children, self.source
        frozen = base > 1
        dirs: dict[str, tuple[int, dict[str, Node]]] = {}
        for i, p in enumerate(payloads):
            index, relpath = first + i, p.relpath
            head, _, name = relpath.rpartition("/")
            known = dirs.get(head)
            if known is None:
                dir_id = ROOT if not head else by_path.get(head)
                directory = None if dir_id is None else made.get(dir_id)
                if dir_id is None or not isinstance(directory, Directory) or \
                        relpath in by_path or (frozen and self.node_id(relpath) is not None):
                    out.append(self._add(index, False, relpath, p.mode, p.uid, p.gid, p.size,
                                         p, p.flags)[1])
                    continue
                known = dirs[head] = (dir_id, directory.children)
            elif relpath in by_path or (frozen and self.node_id(relpath) is not None):
                out.append(self._add(index, False, relpath, p.mode, p.uid, p.gid, p.size, p,
                                     p.flags)[1])
                continue
            parent, children = known
            nid = base + len(entries)
            entries.append(index)
            parents.append(parent)
            is_dir.append(False)
            paths.append(relpath)
            by_path[relpath] = nid
            kids = added.get(parent)
            if kids is None:
                added[parent] = [nid]
            else:
                kids.append(nid)
            self.files += 1
            self.file_bytes += p.size
            node = File(relpath, p.mode & 0o7777, p.uid, p.gid, index, entry=p, source=source,
                        size=p.size, flags=p.flags)
            children[name] = node
            out.append(node)
        return out

    def _add(self, index: int, is_dir: bool, relpath: str, mode: int, uid: int, gid: int,
             size: int, payload: FileEntry | None, flags: int) -> tuple[int | None, Node | None]:
        """`add`, returning the node object too (None where none was made)."""
        base = self._base
        by_path = self._by_path
        head, _, _ = relpath.rpartition("/")
        parent: int | str | None
        if not head:
            parent = ROOT
        else:
            parent = by_path.get(head)
            if parent is None or not (self._is_dir[parent - base] if parent >= base
                                      else self.frozen.is_dir[parent]):
                parent = self.node_id(head)
                if parent is None or not self._is_dir_of(parent):
                    parent = self._parent_id(relpath)
                    if isinstance(parent, str):
                        self.conflicts.append(Conflict(index, relpath, parent))
                        return None, None
        existing = by_path.get(relpath)
        if existing is None and base > 1:
            existing = self.node_id(relpath)
        if existing is not None:
            if is_dir and self._is_dir_of(existing) and self._entry_of(existing) < 0:
                return self._claim(existing, index, mode, uid, gid), self._made.get(existing)
            self.conflicts.append(Conflict(index, relpath, "path exists already"))
            return None, None
        if payload is not None:
            # The caller gets this file's node with its entry: its directory lists its
            # children now (before the file is added), so that the node made here is the one.
            directory = self.node(parent)
            assert isinstance(directory, Directory)
            directory.children  # noqa: B018
        nid = base + len(self._entry)
        self._entry.append(index)
        self._parent.append(parent)
        self._is_dir.append(is_dir)
        self._paths.append(relpath)
        by_path[relpath] = nid
        kids = self._added_children.get(parent)
        if kids is None:
            self._added_children[parent] = [nid]
        else:
            kids.append(nid)
        if is_dir:
            self.directories += 1
        else:
            self.files += 1
            self.file_bytes += size
        up = self._made.get(parent)
        node: Node | None = None
        if isinstance(up, Directory) and up.loaded:
            if is_dir:
                node = Directory(relpath, mode & 0o7777, uid, gid, index, children={})
                self._made[nid] = node
            else:
                node = File(relpath, mode & 0o7777, uid, gid, index, entry=payload,
                            source=self.source, size=size, flags=flags)
            up.adopt(node)
        return nid, node

    def _claim(self, nid: int, index: int, mode: int, uid: int, gid: int) -> int:
        """Implicit directory `nid` gets MKDIR entry `index`."""
        if nid < self._base:
            self._claimed[nid] = index
        else:
            self._entry[nid - self._base] = index
        made = self._made.get(nid)
        if made is not None:
            made.mode, made.uid, made.gid, made.index = mode & 0o7777, uid, gid, index
        return nid

    def apply(self, index: int, payload: FileEntry | MkdirEntry) -> Node | None:
        """Add the file or directory of log entry `index` (see the module rules); its node,
        or None for a conflict."""
        if isinstance(payload, MkdirEntry):
            nid = self.add(index, True, payload.relpath, payload.mode, payload.uid,
                           payload.gid)
        else:
            nid = self.add(index, False, payload.relpath, payload.mode, payload.uid,
                           payload.gid, payload.size, payload)
        return None if nid is None else self.node(nid)

    def check_new(self, relpath: str) -> Directory:
        """The parent directory in which `relpath` may be created; ExistsError if it exists,
        NotFoundError or NotDirectoryError if its parent is missing or a file."""
        if self.find(relpath) is not None:
            raise ExistsError(f"{relpath}: exists already")
        head = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
        parent = self.find(head)
        if isinstance(parent, Directory):
            return parent
        parts = relpath.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            node = self.find(sub)
            if node is None:
                raise NotFoundError(f"{relpath}: parent directory {sub} does not exist")
            if not isinstance(node, Directory):
                raise NotDirectoryError(f"{relpath}: {sub} is a file, not a directory")
        raise NotFoundError(f"{relpath}: parent directory {head} does not exist")

    def walk(self) -> list[Node]:
        """Every node below the root, parents before children."""
        out: list[Node] = []
        stack: list[Directory] = [self.root]
        while stack:
            d = stack.pop()
            for child in d.children.values():
                out.append(child)
                if isinstance(child, Directory):
                    stack.append(child)
        return out

    def walk_ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every node below the root, in the order of `walk`, without making node objects:
        node ids (int64), whether each is a directory (bool), and the id of its parent."""
        ids_parts: list[np.ndarray] = []
        dir_parts: list[np.ndarray] = []
        parent_parts: list[np.ndarray] = []
        base, frozen = self._base, self.frozen
        stack = [ROOT]
        while stack:
            nid = stack.pop()
            ids = np.zeros(0, dtype=np.int64)
            if nid < base:
                ids = frozen.child_ids[frozen.child_start[nid]:frozen.child_start[nid + 1]]
                ids = ids.astype(np.int64)
            added = self._added_children.get(nid)
            if added:
                ids = np.concatenate([ids, np.array(added, dtype=np.int64)])
            if not len(ids):
                continue
            dirs = np.zeros(len(ids), dtype=bool)
            old = ids < base
            dirs[old] = frozen.is_dir[ids[old]]
            if not old.all():
                dirs[~old] = [self._is_dir[c - base] for c in ids[~old].tolist()]
            ids_parts.append(ids)
            dir_parts.append(dirs)
            parent_parts.append(np.full(len(ids), nid, dtype=np.int64))
            stack.extend(ids[dirs].tolist())
        if not ids_parts:
            return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool),
                    np.zeros(0, dtype=np.int64))
        return np.concatenate(ids_parts), np.concatenate(dir_parts), np.concatenate(parent_parts)

    def entry_of(self, nid: int) -> int:
        """The log index of the entry that made node `nid` (-1: an implicit directory)."""
        return self._entry_of(nid)

    def entries_of(self, nids: np.ndarray) -> np.ndarray:
        """`entry_of` of each node of `nids` (an integer array), as int64."""
        ids = np.asarray(nids, dtype=np.int64)
        if self._claimed or (len(ids) and int(ids.max()) >= self._base):
            return np.array([self._entry_of(nid) for nid in ids.tolist()], dtype=np.int64)
        return self.frozen.entry[ids].astype(np.int64)

    def path_of(self, nid: int) -> str:
        """The path of node `nid` ('' is the root)."""
        return self._path_of(nid)

    # --- freezing -----------------------------------------------------------------------

    def freeze(self) -> NodeArrays:
        """Every node as a frozen table (for an index), hashes and children included."""
        base, frozen = self._base, self.frozen
        entry = np.concatenate([frozen.entry, np.array(self._entry, dtype=np.int32)])
        for nid, index in self._claimed.items():
            entry[nid] = index
        parent = np.concatenate([frozen.parent, np.array(self._parent, dtype=np.int32)])
        is_dir = np.concatenate([frozen.is_dir, np.array(self._is_dir, dtype=bool)])
        total = len(entry)
        known = self._not_frozen
        new_hashes = np.array([known.get(p) or path_hash(os.fsencode(p)) for p in self._paths],
                              dtype=np.uint64)
        new_ids = np.arange(base, total, dtype=np.int32)
        # The frozen tables are sorted already: the new rows are merged in (stable: a new
        # row goes after frozen rows of the same key, as the node ids are larger).
        order = np.argsort(new_hashes, kind="stable")
        new_hashes, new_ids_by_hash = new_hashes[order], new_ids[order]
        at = frozen.hashes.searchsorted(new_hashes, side="right")
        hashes = np.insert(frozen.hashes, at, new_hashes)
        hash_nodes = np.insert(frozen.hash_nodes, at, new_ids_by_hash)
        new_parents = np.array(self._parent, dtype=np.int64)
        order = np.argsort(new_parents, kind="stable")
        grown = np.zeros(total + 1, dtype=np.int64)
        grown[:len(frozen.child_start)] = frozen.child_start
        grown[len(frozen.child_start):] = frozen.child_start[-1]
        kids = np.insert(frozen.child_ids, grown[new_parents[order] + 1],
                         new_ids[order]).astype(np.int32)
        counts = np.bincount(new_parents, minlength=total)
        child_start = grown + np.concatenate([[0], np.cumsum(counts)])
        implicit = {nid: path for nid, path in frozen.implicit.items()
                    if nid not in self._claimed}
        for i, (index, path) in enumerate(zip(self._entry, self._paths, strict=True)):
            if index < 0:
                implicit[base + i] = path
        return NodeArrays(entry, parent, is_dir, child_start, kids, hashes, hash_nodes,
                          implicit)


class _Children:
    """The `ChildLoader` of the directory at node `nid` of `namespace`."""

    __slots__ = ("namespace", "nid")

    def __init__(self, namespace: Namespace, nid: int) -> None:
        self.namespace = namespace
        self.nid = nid

    def prepare(self) -> list[tuple[str, File]]:
        return self.namespace._frozen_files(self.nid)

    def load(self, prepared: object | None = None) -> dict[str, Node]:
        files = prepared if isinstance(prepared, list) else None
        return self.namespace._load_children(self.nid, files)

    def count(self) -> int:
        return self.namespace._subdir_count(self.nid)
