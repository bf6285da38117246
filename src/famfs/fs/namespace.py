"""The namespace: directories and files built by replaying log entries in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from famfs.errors import ExistsError, NotDirectoryError, NotFoundError, PathError
from famfs.omf.log import FileEntry, MkdirEntry


@dataclass
class Node:
    """A name in the filesystem. `index` is the log entry that made it (None: implicit);
    `mode` holds permission bits only."""

    relpath: str
    mode: int
    uid: int
    gid: int
    index: int | None

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]


@dataclass
class Directory(Node):
    children: dict[str, Node] = field(default_factory=dict)


@dataclass
class File(Node):
    entry: FileEntry = field(default=None)  # type: ignore[assignment]

    @property
    def size(self) -> int:
        return self.entry.size


@dataclass(frozen=True)
class Conflict:
    """A log entry whose path could not be applied (a duplicate, or a parent that is a file)."""

    index: int
    relpath: str
    reason: str


class Namespace:
    """The tree of directories and files; the root has relpath ''."""

    def __init__(self, root_mode: int = 0o755, root_uid: int = 0, root_gid: int = 0) -> None:
        self.root = Directory("", root_mode, root_uid, root_gid, None)
        self.files = 0
        self.directories = 0
        self.conflicts: list[Conflict] = []

    def lookup(self, relpath: str) -> Node:
        """The node at `relpath` ('' is the root); NotFoundError or PathError otherwise."""
        node: Node = self.root
        if relpath in ("", "/", "."):
            return node
        for part in relpath.strip("/").split("/"):
            if not isinstance(node, Directory):
                raise NotDirectoryError(f"{relpath}: {node.relpath} is not a directory")
            if part in ("", "."):
                continue
            child = node.children.get(part)
            if child is None:
                raise NotFoundError(f"{relpath}: no such file or directory")
            node = child
        return node

    def find(self, relpath: str) -> Node | None:
        """The node at `relpath`, or None where lookup would raise."""
        node: Node = self.root
        if relpath in ("", "/", "."):
            return node
        for part in relpath.strip("/").split("/"):
            if not isinstance(node, Directory):
                return None
            if part in ("", "."):
                continue
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node

    def _parent(self, relpath: str, index: int | None, implicit: bool) -> Directory:
        node = self.root
        parts = relpath.split("/")[:-1]
        for depth, part in enumerate(parts):
            child = node.children.get(part)
            if child is None:
                if not implicit:
                    raise NotFoundError(f"{relpath}: parent directory "
                                        f"{'/'.join(parts[:depth + 1])} does not exist")
                child = Directory("/".join(parts[:depth + 1]), 0o755, 0, 0, None)
                node.children[part] = child
                self.directories += 1
            if not isinstance(child, Directory):
                raise NotDirectoryError(f"{relpath}: {child.relpath} is a file, not a directory")
            node = child
        return node

    def apply(self, index: int, payload: FileEntry | MkdirEntry) -> Node | None:
        """Add the file or directory of log entry `index`. A path that cannot be applied is
        recorded as a Conflict and skipped (None). Missing parents are made implicitly."""
        try:
            parent = self._parent(payload.relpath, index, implicit=True)
        except PathError as exc:
            self.conflicts.append(Conflict(index, payload.relpath, str(exc)))
            return None
        name = payload.relpath.rsplit("/", 1)[-1]
        existing = parent.children.get(name)
        if isinstance(payload, MkdirEntry):
            if isinstance(existing, Directory) and existing.index is None:
                existing.mode = payload.mode & 0o7777
                existing.uid, existing.gid = payload.uid, payload.gid
                existing.index = index
                return existing
            if existing is not None:
                self.conflicts.append(Conflict(index, payload.relpath, "path exists already"))
                return None
            node: Node = Directory(payload.relpath, payload.mode & 0o7777, payload.uid,
                                   payload.gid, index)
            self.directories += 1
        else:
            if existing is not None:
                self.conflicts.append(Conflict(index, payload.relpath, "path exists already"))
                return None
            node = File(payload.relpath, payload.mode & 0o7777, payload.uid, payload.gid, index,
                        payload)
            self.files += 1
        parent.children[name] = node
        return node

    def check_new(self, relpath: str) -> Directory:
        """The parent directory in which `relpath` may be created; ExistsError if it exists."""
        parent = self._parent(relpath, None, implicit=False)
        if relpath.rsplit("/", 1)[-1] in parent.children:
            raise ExistsError(f"{relpath}: exists already")
        return parent

    def walk(self) -> list[Node]:
        """Every node below the root, parents before children."""
        out: list[Node] = []
        stack = [self.root]
        while stack:
            d = stack.pop()
            for child in d.children.values():
                out.append(child)
                if isinstance(child, Directory):
                    stack.append(child)
        return out
