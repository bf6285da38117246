"""Who may do what with a famfs name reached as DEVICE:PATH: the mode, owner and group logged
for each file and directory, checked the way the kernel checks them on a mount.

A path inside a mount needs none of this (the kernel and the mount server check it); a name
reached straight on the device is checked here, so that the Python API shows an unprivileged
user nothing the file modes deny them. The superuser passes every read and write check, and a
search (execute) check on a directory.
"""

from __future__ import annotations

import os
import stat

from famfs.errors import AccessError
from famfs.fs.namespace import Directory, Namespace, Node

READ = os.R_OK
WRITE = os.W_OK
SEARCH = os.X_OK

_WHAT = {READ: "read", WRITE: "write", SEARCH: "search", READ | SEARCH: "list",
         WRITE | SEARCH: "add entries to"}


def allowed(node: Node, want: int, uid: int | None = None, groups: set[int] | None = None
            ) -> bool:
    """Whether the caller (effective uid and groups of this process unless given) may do
    `want` (a mask of READ, WRITE, SEARCH) to `node`."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        if want & SEARCH and not isinstance(node, Directory):
            return bool(node.mode & 0o111)
        return True
    if groups is None:
        groups = {os.getegid(), *os.getgroups()}
    if uid == node.uid:
        bits = (node.mode >> 6) & 7
    elif node.gid in groups:
        bits = (node.mode >> 3) & 7
    else:
        bits = node.mode & 7
    return bits & want == want


def file_type(node: Node) -> int:
    """The S_IFDIR or S_IFREG bits of `node`."""
    return stat.S_IFDIR if isinstance(node, Directory) else stat.S_IFREG


def check_path(namespace: Namespace, relpath: str, want: int, shown: str) -> Node:
    """The node at `relpath`, after checking that the caller may search every directory on the
    way and do `want` to the node itself (0: nothing more). AccessError names `shown` (the
    path as the caller wrote it) and the directory or file that refuses. A name below a
    directory the caller may not search is refused before it is looked up, so a refusal says
    nothing about whether it exists."""
    node: Node = namespace.root
    parts = [p for p in relpath.strip("/").split("/") if p not in ("", ".")]
    for depth, part in enumerate(parts):
        if not isinstance(node, Directory):
            namespace.lookup(relpath)
        if not allowed(node, SEARCH):
            where = node.relpath or "/"
            raise AccessError(f"{shown}: permission denied: may not search directory {where} "
                              f"(mode {node.mode:04o}, owner {node.uid}:{node.gid})")
        assert isinstance(node, Directory)
        child = node.children.get(part)
        if child is None:
            namespace.lookup("/".join(parts[:depth + 1]))
            raise AssertionError("unreachable")
        node = child
    if want and not allowed(node, want):
        kind = "directory" if isinstance(node, Directory) else "file"
        raise AccessError(f"{shown}: permission denied: the {kind}'s mode {node.mode:04o} "
                          f"(owner {node.uid}:{node.gid}) does not let uid {os.geteuid()} "
                          f"{_WHAT.get(want, 'access')} it")
    return node
