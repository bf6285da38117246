"""Device commands of a multi-device famfs: `famfs devadd` and `famfs daxdev`.

`famfs devadd [-f] TARGET DEVICE` adds DEVICE (an image file or DAX device) to the famfs that
TARGET names (a mount point or the primary device), online or offline, on the master.
`famfs daxdev list|resolve|refresh FS ...` shows where this host finds the devices of a famfs
(FS: its primary device, any of its devices, a path in its mount, or its filesystem UUID).
"""

from __future__ import annotations

import argparse
import os
import uuid

from famfs.cli.main import ArgumentsError, add_verbose
from famfs.errors import FamfsError, MissingDeviceError, UsageError


def _primary_of(arg: str) -> tuple[str, str | None]:
    """(primary device, mount point or None) of a primary device or a path in a mount."""
    from famfs.device import is_device_path
    from famfs.fs.mounts import mount_containing, mount_of

    if is_device_path(arg) and not os.path.isdir(arg):
        return arg, mount_of(arg)
    mount = mount_containing(arg) if os.path.exists(arg) else None
    if mount is None:
        raise UsageError(f"{arg}: not a famfs device or a path in a famfs mount")
    return mount


def run_devadd(args: argparse.Namespace) -> int:
    from famfs.fs.devadd import add_device
    from famfs.fs.filesystem import Filesystem

    primary, mountpoint = _primary_of(args.target)
    with Filesystem(primary, writable=True) as fs:
        index = add_device(fs, args.device, force=args.force)
        member = fs.devices.member(index)
        fs_uuid = fs.sb.fs_uuid
    if mountpoint is not None:
        from famfs.mapping.transport import XattrTransport

        try:
            XattrTransport(mountpoint).logplay()
        except FamfsError as exc:
            raise FamfsError(f"{args.device} was added as device {index}, but the server of "
                             f"{mountpoint} did not replay the log: {exc}") from None
    print(f"{args.device}: device {index} (UUID {member.uuid}, {member.size} bytes) of famfs "
          f"{fs_uuid}")
    return 0


def _fs_uuid_of(arg: str) -> tuple[uuid.UUID, str | None]:
    """(filesystem UUID, primary device or None) named by `arg`: a filesystem UUID, any
    device of the famfs, or a path in its mount."""
    from famfs.omf.superblock import Superblock
    from famfs.resolver import read_member

    try:
        return uuid.UUID(arg), None
    except ValueError:
        pass
    device, _ = _primary_of(arg)
    sb = read_member(device)
    if sb is None:
        raise UsageError(f"{device}: holds no famfs superblock")
    return sb.fs_uuid, device if isinstance(sb, Superblock) else None


def run_daxdev(args: argparse.Namespace) -> int:
    from famfs.resolver import Resolver

    fs_uuid, primary = _fs_uuid_of(args.fs)
    resolver = Resolver(fs_uuid)
    if args.action == "resolve":
        if args.dev_uuid is None:
            raise ArgumentsError("daxdev resolve: the device UUID is required")
        try:
            dev_uuid = uuid.UUID(args.dev_uuid)
        except ValueError:
            raise ArgumentsError(f"{args.dev_uuid!r} is not a UUID") from None
        print(resolver.resolve(dev_uuid))
        return 0
    if args.dev_uuid is not None:
        raise ArgumentsError(f"daxdev {args.action} takes no device UUID")
    if args.action == "refresh":
        found = resolver.refresh()
        print(f"famfs {fs_uuid}: {len(found)} device(s) found on this host "
              f"(cache {resolver.cache_path})")
        for rec in found:
            print(f"  {rec.dev_uuid}  {rec.path}" + ("  (primary)" if rec.primary else ""))
        return 0
    if primary is None:
        records = resolver.cached()
        print(f"famfs {fs_uuid}: {len(records)} cached device path(s) ({resolver.cache_path})")
        for rec in records:
            print(f"  {rec.dev_uuid}  {rec.path}" + ("  (primary)" if rec.primary else ""))
        return 0
    return _list_devices(primary)


def _list_devices(primary: str) -> int:
    from famfs.fs.filesystem import Filesystem

    missing = 0
    with Filesystem(primary) as fs:
        print(f"famfs {fs.sb.fs_uuid}: {len(fs.devices)} device(s)")
        for member in fs.devices:
            try:
                where = fs.devices.path(member.index)
            except MissingDeviceError:
                where = "not found on this host"
                missing += 1
            except FamfsError as exc:
                where = f"unusable: {exc}"
                missing += 1
            role = "  (primary)" if member.index == 0 else ""
            print(f"  {member.index:>2}  {member.uuid}  {member.size:>14}  {where}{role}")
    return 1 if missing else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("devadd", help="add a device to a famfs (master only)",
                       description="Add DEVICE (an image file or DAX device) to the famfs that "
                                   "TARGET names: its mount point or its primary device. A "
                                   "mounted famfs sees the device at once.")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite a famfs superblock or data on DEVICE")
    add_verbose(p)
    p.add_argument("target", metavar="TARGET",
                   help="the famfs: its mount point or its primary device")
    p.add_argument("device", metavar="DEVICE", help="image file or DAX device to add")
    p.set_defaults(func=run_devadd)

    p = sub.add_parser("daxdev", help="where this host finds the devices of a famfs",
                       description="list: every device of the famfs and its local path; "
                                   "resolve: the local path of one device UUID; refresh: "
                                   "rescan the candidate paths and rewrite this host's cache. "
                                   "FS is the famfs's primary device, any of its devices, a "
                                   "path in its mount, or its filesystem UUID.")
    p.add_argument("action", choices=("list", "resolve", "refresh"), help="what to do")
    p.add_argument("fs", metavar="FS",
                   help="the famfs: a device of it, a path in its mount, or its UUID")
    p.add_argument("dev_uuid", metavar="DEVICE_UUID", nargs="?", default=None,
                   help="with resolve: the device UUID to find")
    p.set_defaults(func=run_daxdev)
