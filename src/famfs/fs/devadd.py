"""Growing a famfs by a device: `famfs devadd` and `mkfs.famfs PRIMARY SECONDARY...`.

Adding a device writes its own superblock, marked secondary and tied to the primary by the
primary's device UUID (famfs.omf.superblock.SecondarySuperblock), then appends an ADD_DAXDEV
entry to the primary's log: index (dense, the next one), size and UUID, never a path. Data
before metadata here too: the entry is appended only once the superblock is durable, so a
device is listed only if it can be found and checked; an add killed in between leaves a
secondary superblock that no log names, which a later devadd may reuse without -f. The new
device's path is recorded in this host's resolver cache (famfs.resolver) and, when the
filesystem is mounted, its server replays the log at once, so the mount's files and new
allocations see the device immediately. Master only, under the log's append lock, online or
offline.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Mapping, Sequence

from famfs.device import Device, create_image, device_size, is_device_path
from famfs.errors import DeviceError, FamfsError, LogFullError, UsageError
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import _check_overwrite, check_log_len, mkfs
from famfs.fs.mounts import mount_of
from famfs.omf.layout import DEFAULT_LOG_LEN, MAX_DEVICES, min_device_size
from famfs.omf.log import AddDaxdevEntry
from famfs.omf.superblock import (
    MIN_SECONDARY_SIZE,
    SECONDARY_SIZE,
    SecondarySuperblock,
    Superblock,
)
from famfs.resolver import Resolver, forget_device, read_member


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino, sa.st_rdev) == (sb.st_dev, sb.st_ino, sb.st_rdev)


def check_new_device(path: str, force: bool, fs_uuid: uuid.UUID | None = None,
                     logged: Mapping[uuid.UUID, int] | None = None) -> None:
    """UsageError or FamfsError unless `path` may become a secondary device: an image file or
    DAX device of at least MIN_SECONDARY_SIZE bytes, not mounted, holding no famfs superblock
    and no data (unless `force`). A secondary superblock of filesystem `fs_uuid` whose UUID is
    not in `logged` (device UUID to index; left by an interrupted add) may be reused without
    `force`; one that is logged is refused always."""
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, not an image file or DAX device")
    if not is_device_path(path):
        raise DeviceError(f"{path}: no such image file or DAX device")
    mounted = mount_of(path)
    if mounted:
        raise FamfsError(f"{path}: mounted at {mounted} (it is the primary of a famfs); "
                         f"unmount it first")
    size = device_size(path)
    if size < MIN_SECONDARY_SIZE:
        raise UsageError(f"{path}: {size} bytes is too small for a secondary device (at least "
                         f"{MIN_SECONDARY_SIZE} bytes: its superblock region and one allocation "
                         f"unit)")
    old = read_member(path)
    if isinstance(old, SecondarySuperblock) and fs_uuid is not None \
            and old.fs_uuid == fs_uuid:
        index = (logged or {}).get(old.dev_uuid)
        if index is not None:
            raise UsageError(f"{path}: is device {index} of this famfs already (UUID "
                             f"{old.dev_uuid})")
        return
    if isinstance(old, Superblock) and fs_uuid is not None and old.fs_uuid == fs_uuid:
        raise UsageError(f"{path}: is the primary device of this famfs")
    if not force:
        _check_overwrite(path)


def add_device(fs: Filesystem, path: str, force: bool = False) -> int:
    """Add device `path` to `fs` (opened writable, on its master); returns its index."""
    fs.check_master("add devices")
    path = os.path.abspath(path)
    for member in fs.devices:
        if member.path is not None and _same_file(member.path, path):
            raise UsageError(f"{path}: is device {member.index} of this famfs already")
    with fs.device.append_lock():
        fs.refresh()
        index = len(fs.device_sizes)
        if index >= MAX_DEVICES:
            raise UsageError(f"a famfs has at most {MAX_DEVICES} devices; it has {index}")
        head = fs.log.header()
        if head.is_full():
            raise LogFullError(f"log full: {head.next_index} of {head.slots} slots used; no "
                               f"room for the device's entry")
        logged = {m.uuid: m.index for m in fs.devices}
        check_new_device(path, force, fs.sb.fs_uuid, logged)
        old = read_member(path)
        sb = SecondarySuperblock(
            fs_uuid=fs.sb.fs_uuid, dev_uuid=uuid.uuid4(), primary_uuid=fs.sb.dev_uuid,
            system_uuid=fs.sb.system_uuid, device_size=device_size(path),
            device_name=_device_name(path), alloc_unit=fs.sb.alloc_unit)
        with Device(path, writable=True) as dev:
            dev.pwrite(0, sb.encode())
            dev.flush(0, SECONDARY_SIZE)
            SecondarySuperblock.decode(dev.buf[:SECONDARY_SIZE], dev.size)
        if old is not None:
            forget_device(old.fs_uuid, old.dev_uuid)
        fs.log.append([AddDaxdevEntry(index, sb.device_size, sb.dev_uuid.bytes)])
        fs.log.flush()
        fs.refresh()
    resolver = Resolver(fs.sb.fs_uuid)
    resolver.remember(fs.sb.dev_uuid, fs.path, primary=True)
    resolver.remember(sb.dev_uuid, path)
    fs.devices.path(index)
    return index


def _device_name(path: str) -> str:
    """The path recorded in the superblock (a hint, true only on the host that added it)."""
    return path if len(path.encode()) <= 63 else os.path.basename(path)[-63:]


def mkfs_devices(primary: str, secondaries: Sequence[str], log_len: int = DEFAULT_LOG_LEN,
                 force: bool = False, size: int | None = None) -> Superblock:
    """`mkfs.famfs PRIMARY SECONDARY...`: make the famfs on `primary`, then add each secondary
    as `famfs devadd` does. Every device is checked before anything is written; with `size`,
    missing image files are created at that size (and removed again if the command fails)."""
    check_log_len(log_len)
    paths = [os.path.abspath(p) for p in (primary, *secondaries)]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if a == b or _same_file(a, b):
                raise UsageError(f"{a}: named twice")
    created: list[str] = []
    try:
        for path in secondaries:
            exists = is_device_path(path)
            if size is not None and not exists:
                if size < MIN_SECONDARY_SIZE:
                    raise UsageError(f"{path}: {size} bytes is too small for a secondary "
                                     f"device")
                create_image(path, size)
                created.append(path)
            elif size is not None and not stat.S_ISREG(os.stat(path).st_mode):
                raise UsageError(f"{path}: --size creates image files only")
            elif size is not None and os.stat(path).st_size < size:
                create_image(path, size)
            check_new_device(path, force)
        if size is not None and size < min_device_size(log_len):
            raise UsageError(f"{primary}: {size} bytes is too small for the primary")
        sb = mkfs(primary, log_len=log_len, force=force, size=size)
        with Filesystem(primary, writable=True) as fs:
            for path in secondaries:
                add_device(fs, path, force)
        return sb
    except BaseException:
        for path in created:
            os.unlink(path)
        raise
