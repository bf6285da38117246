"""How a famfs file is named: `DEVICE:PATH`, or a path inside a mount.

`DEVICE:PATH` names PATH (relative to the filesystem root; a leading `/` is allowed) on the
famfs in image file or DAX device DEVICE, with no mount needed: `/dev/shm/famfs.img:dir/file`.
A path inside a live pyfamfs mount names the same file through its device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from famfs.device import is_device_path
from famfs.errors import UsageError
from famfs.fs.mounts import mount_containing


@dataclass(frozen=True)
class Target:
    """A famfs path: `device` holds the filesystem, `relpath` is '' for its root."""

    device: str
    relpath: str
    mountpoint: str | None = None

    def __str__(self) -> str:
        if self.mountpoint is not None:
            return os.path.join(self.mountpoint, self.relpath)
        return f"{self.device}:{self.relpath}"

    def child(self, name: str) -> Target:
        rel = f"{self.relpath}/{name}" if self.relpath else name
        return Target(self.device, rel, self.mountpoint)


def split_device_path(arg: str) -> tuple[str, str] | None:
    """(device, relpath) if `arg` is DEVICE:PATH with DEVICE an existing image or device."""
    pos = arg.find(":")
    while pos > 0:
        dev = arg[:pos]
        if is_device_path(dev):
            return dev, arg[pos + 1:].strip("/")
        pos = arg.find(":", pos + 1)
    return None


def parse_target(arg: str, allow_device: bool = False) -> Target | None:
    """The famfs path `arg` names, or None if it names no famfs path.

    With `allow_device`, a bare DEVICE (or a mount point) names the filesystem root.
    """
    split = split_device_path(arg)
    if split is not None:
        return Target(split[0], split[1])
    mount = mount_containing(arg if os.path.exists(arg) else os.path.dirname(arg) or ".")
    if mount is None:
        if allow_device and is_device_path(arg):
            return Target(arg, "")
        return None
    device, mountpoint = mount
    real = os.path.realpath(arg) if os.path.exists(arg) else os.path.join(
        os.path.realpath(os.path.dirname(arg) or "."), os.path.basename(arg))
    rel = os.path.relpath(real, mountpoint)
    return Target(device, "" if rel == "." else rel, mountpoint)


def require_target(arg: str, allow_device: bool = False) -> Target:
    """Like parse_target, but a UsageError explains the two accepted forms."""
    target = parse_target(arg, allow_device)
    if target is None:
        raise UsageError(f"{arg}: not a famfs path; use DEVICE:PATH (an image file or DAX "
                         f"device, then the path inside it) or a path in a famfs mount")
    return target
