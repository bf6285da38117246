"""Which famfs devices are mounted where, from /proc/mounts.

A pyfamfs mount has filesystem type `fuse.famfs` and the absolute device path as its source.
"""

from __future__ import annotations

import os

FSTYPE = "fuse.famfs"


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def famfs_mounts() -> list[tuple[str, str]]:
    """(device path, mount point) of every live famfs mount."""
    try:
        with open("/proc/mounts") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == FSTYPE:
            out.append((_unescape(parts[0]), _unescape(parts[1])))
    return out


def mount_of(device: str) -> str | None:
    """The mount point of `device`, or None if it is not mounted."""
    want = os.path.realpath(device)
    for source, target in famfs_mounts():
        if os.path.realpath(source) == want:
            return target
    return None


def mount_containing(path: str) -> tuple[str, str] | None:
    """(device, mount point) of the famfs mount that holds `path`, the deepest one."""
    real = os.path.realpath(path)
    best: tuple[str, str] | None = None
    for source, target in famfs_mounts():
        if real == target or real.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[1]):
                best = (source, target)
    return best
