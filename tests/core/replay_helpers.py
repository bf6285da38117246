"""What a replay built, in a form two replays can be compared by."""

from __future__ import annotations

from famfs.fs.filesystem import Filesystem
from famfs.fs.namespace import Directory, File


def snapshot(fs: Filesystem) -> dict[str, object]:
    """Everything a replay builds, in a form two replays can be compared by."""
    nodes = []
    for node in fs.namespace.walk():
        if isinstance(node, File):
            nodes.append(("file", node.relpath, node.mode, node.uid, node.gid, node.index,
                          node.size, node.flags, node.entry))
        else:
            assert isinstance(node, Directory)
            nodes.append(("dir", node.relpath, node.mode, node.uid, node.gid, node.index,
                          tuple(node.children)))
    ns = fs.namespace
    return {
        "nodes": nodes, "files": ns.files, "directories": ns.directories,
        "file_bytes": ns.file_bytes, "conflicts": list(ns.conflicts),
        "collisions": list(fs.collisions), "applied": fs.applied,
        "runs": {d: m.runs() for d, m in fs.allocator.maps.items()},
        "devices": dict(fs.device_sizes),
        "members": [(m.index, m.uuid, m.size) for m in fs.devices],
    }
