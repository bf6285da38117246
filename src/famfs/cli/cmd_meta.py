"""Metadata commands: mkfs, fsck, logplay, mkdir, getmap, clone, flush.

Famfs paths are DEVICE:PATH or paths inside a famfs mount (see famfs.fs.target); fsck and
logplay also take a bare DEVICE. Heavy modules are imported inside the commands, so that
`famfs --help` and the fast paths start quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from famfs.cli.sizes import id_arg, mode_arg, size_arg, umask
from famfs.errors import FamfsError, IsDirectoryError, UsageError

if TYPE_CHECKING:
    from famfs.cli.opened import OpenedFilesystems
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.namespace import File
    from famfs.fs.target import Target



# --- mkfs ---------------------------------------------------------------------------------


def mkfs_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `mkfs.famfs` arguments to `parser` and set its func; return it."""
    parser.description = ("Make a famfs filesystem on DEVICE (an image file or DAX device); "
                          "this host becomes its master.")
    parser.add_argument("-f", "--force", action="store_true",
                        help="overwrite an existing famfs superblock")
    parser.add_argument("-k", "--kill", action="store_true",
                        help="with -f: zero the superblock magic only")
    parser.add_argument("-l", "--loglen", type=size_arg, default=None, metavar="LOGLEN",
                        help="log size: a power of two of at least 8m (default 8m)")
    parser.add_argument("-s", "--size", type=size_arg, default=None, metavar="SIZE",
                        help="create (or grow) an image file of SIZE bytes first")
    parser.add_argument("device", metavar="DEVICE")
    parser.set_defaults(func=run_mkfs)
    return parser


def run_mkfs(args: argparse.Namespace) -> int:
    from famfs.fs import mkfs as mkfs_mod
    from famfs.fs.fsck import fsck
    from famfs.omf.layout import DEFAULT_LOG_LEN

    if args.kill:
        if not args.force:
            raise UsageError("-k (kill) also requires -f")
        mkfs_mod.kill(args.device)
        print(f"{args.device}: famfs superblock killed")
        return 0
    log_len = DEFAULT_LOG_LEN if args.loglen is None else args.loglen
    mkfs_mod.mkfs(args.device, log_len=log_len, force=args.force, size=args.size)
    sys.stdout.write(fsck(args.device).render())
    return 0


# --- fsck ---------------------------------------------------------------------------------


def _device_of(arg: str, what: str, allow_mounted: bool) -> tuple[str, str | None]:
    """(device, mount point or None) named by a bare DEVICE or a path in a famfs mount."""
    from famfs.device import is_device_path
    from famfs.fs.mounts import mount_of
    from famfs.fs.target import parse_target

    if is_device_path(arg) and not os.path.isdir(arg):
        mounted = mount_of(arg)
        if mounted and not allow_mounted:
            raise FamfsError(f"{arg}: mounted at {mounted}; {what} the mount point instead")
        return arg, mounted
    target = parse_target(arg)
    if target is not None and target.mountpoint is None:
        return _device_of(target.device, what, allow_mounted)
    if target is None:
        if not os.path.exists(arg):
            raise UsageError(f"{arg}: no such device, image file or famfs mount")
        raise UsageError(f"{arg}: not a famfs device, image file or path in a famfs mount")
    return target.device, target.mountpoint


def run_fsck(args: argparse.Namespace) -> int:
    from famfs.fs.fsck import fsck

    device, _ = _device_of(args.target, "fsck", allow_mounted=args.force)
    report = fsck(device, keep_nodes=args.verbose)
    sys.stdout.write(report.render(human=args.human, verbose=args.verbose))
    if not report.ok:
        problems = list(report.problems)
        if report.collisions:
            first = report.collisions[0]
            problems.append(f"{len(report.collisions)} allocation collision(s), first at log "
                            f"entry {first.entry_index} (offset {first.offset:#x})")
        if report.conflicts:
            first_c = report.conflicts[0]
            problems.append(f"{len(report.conflicts)} namespace conflict(s), first at log "
                            f"entry {first_c.index} ({first_c.relpath})")
        print(f"famfs fsck: {device}: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


# --- logplay ------------------------------------------------------------------------------


def _logplay_line(entries: int, files: int, dirs: int) -> str:
    return f"{entries} log entries; {files} new files; {dirs} new directories"


def _logplay_mount(mountpoint: str, dry_run: bool, device: str) -> str:
    """Replay into a live mount: ask its server (xattr on the root), or count for -n."""
    if dry_run:
        from famfs.fs.filesystem import Filesystem
        from famfs.fs.namespace import File

        with Filesystem(device) as fs:
            nodes = fs.namespace.walk()
            entries = fs.applied
        new = [n for n in nodes if not os.path.lexists(os.path.join(mountpoint, n.relpath))]
        files = sum(isinstance(n, File) for n in new)
        return _logplay_line(entries, files, len(new) - files)
    from famfs.mapping.transport import XattrTransport

    try:
        reply = XattrTransport(mountpoint).logplay()
    except FamfsError as exc:
        raise FamfsError(f"the famfs server did not replay the log: {exc}") from None
    return _logplay_line(*reply)


def run_logplay(args: argparse.Namespace) -> int:
    from famfs.fs.filesystem import Filesystem

    if args.daxdev is not None and args.shadow is None:
        raise UsageError("--daxdev requires --shadow")
    source = args.daxdev if args.daxdev is not None else args.target
    if source is None:
        raise UsageError("name a mount, a device, or --shadow DIR --daxdev DEVICE")
    device, mountpoint = _device_of(source, "logplay", allow_mounted=True)
    if args.shadow is not None:
        from famfs.fs.shadow import write_shadow

        with Filesystem(device) as fs:
            stats = write_shadow(fs.namespace, args.shadow, dry_run=args.dry_run)
            entries = fs.applied
        print(_logplay_line(entries, stats.new_files, stats.new_directories))
        return 0
    if mountpoint is not None:
        print(_logplay_mount(mountpoint, args.dry_run, device))
        return 0
    with Filesystem(device) as fs:
        ns = fs.namespace
        print(_logplay_line(fs.applied, ns.files, ns.directories))
    return 0


# --- appends: mkdir, clone ----------------------------------------------------------------


def _notify_mount(target: Target) -> None:
    """Ask a live mount's server to replay now, so a new name shows at once (best effort)."""
    if target.mountpoint is None:
        return
    from famfs.mapping.transport import XattrTransport

    try:
        XattrTransport(target.mountpoint).logplay()
    except FamfsError:
        pass


def run_mkdir(args: argparse.Namespace) -> int:
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.target import require_target

    target = require_target(args.dir)
    if not target.relpath:
        if args.parents:
            return 0
        raise UsageError(f"{args.dir}: is the filesystem root, which exists already")
    mode = args.mode if args.mode is not None else 0o777 & ~umask()
    uid = os.geteuid() if args.uid is None else args.uid
    gid = os.getegid() if args.gid is None else args.gid
    with Filesystem(target.device, writable=True) as fs:
        fs.mkdir(target.relpath, parents=args.parents, mode=mode, uid=uid, gid=gid)
    _notify_mount(target)
    return 0


def run_clone(args: argparse.Namespace) -> int:
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.target import require_target

    src = require_target(args.src)
    dst = require_target(args.dst)
    if os.path.realpath(src.device) != os.path.realpath(dst.device):
        raise UsageError(f"{args.src} and {args.dst} are on different famfs devices")
    if not src.relpath or not dst.relpath:
        raise UsageError("clone copies a file to a new file; the root is neither")
    with Filesystem(src.device, writable=True) as fs:
        fs.clone(src.relpath, dst.relpath)
    _notify_mount(dst)
    return 0


# --- getmap, flush ------------------------------------------------------------------------


def _famfs_file(arg: str, opened: OpenedFilesystems) -> tuple[Filesystem, File]:
    """(filesystem, File node) for `arg`, or FamfsError saying why it is not a famfs file."""
    from famfs.fs.namespace import File
    from famfs.fs.target import parse_target

    target = parse_target(arg)
    if target is None:
        if not os.path.lexists(arg):
            raise UsageError(f"{arg}: no such file, and not DEVICE:PATH")
        raise UsageError(f"{arg}: not in a famfs filesystem")
    fs = opened.get(target.device)
    node = fs.lookup(target.relpath)
    if not isinstance(node, File):
        raise IsDirectoryError(f"{arg}: is a directory, not a regular famfs file")
    return fs, node


def run_getmap(args: argparse.Namespace) -> int:
    from famfs.cli.opened import OpenedFilesystems

    rc = 0
    with OpenedFilesystems(writable=False) as opened:
        for arg in args.files:
            try:
                _, node = _famfs_file(arg, opened)
            except FamfsError as exc:
                if not args.quiet:
                    print(f"famfs getmap: {exc}", file=sys.stderr)
                rc = 1
                continue
            if not args.quiet:
                sys.stdout.write(_map_text(arg, node))
            print(f"famfs_getmap: good file {arg}")
    return rc


def _map_text(name: str, node: File) -> str:
    fmap = node.entry.fmap
    lines = [f"File:     {name}", f"\tsize:    {node.size}"]
    il = fmap.interleave
    if il is None:
        lines.append(f"\textents: {len(fmap.extents)}")
        lines += [f"\t\t{e.offset:x}\t{e.length}" for e in fmap.extents]
    else:
        lines.append("\textents: 1")
        lines.append(f"Interleave_Param chunk_size: {il.chunk_size}")
        lines.append(f"Interleaved extent has {il.nstrips} strips:")
        lines += [f"\t\t{e.offset:x}\t{e.length}" for e in il.strips]
    return "\n".join(lines) + "\n"


def run_flush(args: argparse.Namespace) -> int:
    from famfs.cli.opened import OpenedFilesystems

    rc = 0
    with OpenedFilesystems(writable=True) as opened:
        for arg in args.files:
            try:
                fs, node = _famfs_file(arg, opened)
                fs.flush_file(node)
            except FamfsError as exc:
                print(f"famfs flush: {exc}", file=sys.stderr)
                rc = 1
    return rc


# --- registration -------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add mkfs, fsck, logplay, mkdir, getmap, clone and flush to `famfs`."""
    mkfs_parser(subparsers.add_parser("mkfs", help="make a famfs filesystem (as mkfs.famfs)"))

    p = subparsers.add_parser("fsck", add_help=False,
                              help="check a famfs: superblock, log, entries, cross-links")
    _help_flag(p)
    p.add_argument("-h", "--human", action="store_true", help="human-readable sizes")
    p.add_argument("-v", "--verbose", action="store_true", help="list every file and directory")
    p.add_argument("-f", "--force", action="store_true",
                   help="check a mounted device by its device path anyway (read-only)")
    p.add_argument("target", metavar="DEVICE_OR_MOUNT")
    p.set_defaults(func=run_fsck)

    p = subparsers.add_parser("logplay", help="replay the log into a mount or a shadow tree")
    p.add_argument("-n", "--dryrun", dest="dry_run", action="store_true",
                   help="report what would be added, change nothing")
    p.add_argument("--shadow", metavar="DIR", default=None,
                   help="replay into a shadow tree of YAML files under DIR/root")
    p.add_argument("-d", "--daxdev", metavar="DEVICE", default=None,
                   help="with --shadow: read the log from DEVICE (no mount needed)")
    p.add_argument("target", metavar="MOUNT_OR_DEVICE", nargs="?", default=None)
    p.set_defaults(func=run_logplay)

    p = subparsers.add_parser("mkdir", help="log a directory (master only)")
    p.add_argument("-p", "--parents", action="store_true",
                   help="create missing parents; an existing directory is fine")
    p.add_argument("-m", "--mode", type=mode_arg, default=None, help="octal mode")
    p.add_argument("-u", "--uid", type=id_arg, default=None)
    p.add_argument("-g", "--gid", type=id_arg, default=None)
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(func=run_mkdir)

    p = subparsers.add_parser("getmap", help="print the extents or strips of famfs files")
    p.add_argument("-q", "--quiet", action="store_true", help="print no map, exit status only")
    p.add_argument("files", metavar="FILE", nargs="+")
    p.set_defaults(func=run_getmap)

    p = subparsers.add_parser("clone", help="test only: log DST with SRC's extents (a "
                                            "cross-link fsck must catch)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.set_defaults(func=run_clone)

    p = subparsers.add_parser("flush", help="make files durable and visible to other hosts")
    p.add_argument("files", metavar="FILE", nargs="+")
    p.set_defaults(func=run_flush)


def _help_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--help", action="help", help="show this help and exit")
