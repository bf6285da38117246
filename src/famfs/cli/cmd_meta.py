"""Metadata commands: mkfs, fsck, logplay, mkdir, getmap, clone, flush, chkread, mkmeta.

Famfs paths are DEVICE:PATH or paths inside a famfs mount (see famfs.fs.target); fsck and
logplay also take a bare DEVICE. Heavy modules are imported inside the commands, so that
`famfs --help` and the fast paths start quickly. Flags are spelled as the reference's, so a
famfs user's scripts run unchanged: `-v` repeats, short flags combine (`-pv`, `-rvvv`), `-?`
is help, and the reference's testing options (`-m`, `-r`, `-c`, ...) are accepted.
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from famfs.cli.main import ArgumentsError, add_verbose, error_text
from famfs.cli.sizes import id_arg, mode_arg, size_arg, umask
from famfs.errors import FamfsError, IsDirectoryError, NotFoundError

if TYPE_CHECKING:
    from famfs.cli.opened import OpenedFilesystems
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.namespace import File
    from famfs.fs.target import Target

NO_STANDALONE = ("pyfamfs serves famfs through FUSE only; there is no standalone (v1) kernel "
                 "module mode, so --nofuse cannot be honoured (leave it out, or use --fuse)")


def add_fuse_flags(parser: argparse.ArgumentParser, short: bool) -> None:
    """`--fuse` (accepted: FUSE is the only mode) and `--nofuse` (refused, with the reason)."""
    fuse = ("-f", "--fuse") if short else ("--fuse",)
    nofuse = ("-F", "--nofuse") if short else ("--nofuse",)
    parser.add_argument(*fuse, dest="fuse", action="store_true",
                        help="use famfs through FUSE (the only mode here; accepted for "
                             "compatibility)")
    parser.add_argument(*nofuse, dest="nofuse", action="store_true",
                        help="standalone kernel-module famfs: not available here (an error)")


def check_nofuse(args: argparse.Namespace) -> None:
    if getattr(args, "nofuse", False):
        raise ArgumentsError(NO_STANDALONE)


def check_access_method(args: argparse.Namespace) -> None:
    """The reference's `-m` (mmap) and `-r` (read) name how the log is read; together they
    are an error (exit 1, as the reference). pyfamfs always maps the device."""
    if args.mmap and args.read:
        raise FamfsError("--mmap (-m) and --read (-r) are mutually exclusive")


def add_access_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--mmap", action="store_true",
                        help="read the metadata through a mapping (the default, and the only "
                             "way here)")
    parser.add_argument("-r", "--read", action="store_true",
                        help="read the metadata with read(2) in the reference; accepted, the "
                             "device is mapped all the same")


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
    parser.add_argument("-D", "--nodax", action="store_true",
                        help="accepted for compatibility: devices and images are always "
                             "opened as files")
    add_verbose(parser)
    parser.add_argument("device", metavar="DEVICE", help="image file or DAX device")
    parser.add_argument("secondaries", metavar="SECONDARY", nargs="*",
                        help="more devices of a multi-device famfs (as famfs devadd adds them)")
    parser.set_defaults(func=run_mkfs)
    return parser


def run_mkfs(args: argparse.Namespace) -> int:
    from famfs.fs import mkfs as mkfs_mod
    from famfs.fs.fsck import fsck
    from famfs.omf.layout import DEFAULT_LOG_LEN

    if args.kill:
        if not args.force:
            raise ArgumentsError("-k (kill) also requires -f")
        if args.secondaries:
            raise ArgumentsError("-k kills one device's superblock; name one device")
        mkfs_mod.kill(args.device)
        print(f"{args.device}: famfs superblock killed")
        return 0
    log_len = DEFAULT_LOG_LEN if args.loglen is None else args.loglen
    if args.secondaries:
        from famfs.fs.devadd import mkfs_devices

        mkfs_devices(args.device, args.secondaries, log_len=log_len, force=args.force,
                     size=args.size)
    else:
        mkfs_mod.mkfs(args.device, log_len=log_len, force=args.force, size=args.size)
    sys.stdout.write(fsck(args.device).render(verbose=args.verbose))
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
            raise FamfsError(f"{arg}: mounted at {mounted}; {what} the mount point instead "
                             f"(or use --force)")
        return arg, mounted
    target = parse_target(arg)
    if target is not None and target.mountpoint is None:
        return _device_of(target.device, what, allow_mounted)
    if target is None:
        if not os.path.exists(arg):
            raise NotFoundError(f"{arg}: no such device, image file or famfs mount")
        raise FamfsError(f"{arg}: not a famfs device, image file or path in a famfs mount")
    return target.device, target.mountpoint


def run_fsck(args: argparse.Namespace) -> int:
    from famfs.fs.fsck import fsck

    check_nofuse(args)
    check_access_method(args)
    device, _ = _device_of(args.target, "fsck", allow_mounted=args.force)
    report = fsck(device, keep_nodes=args.verbose > 0, nbuckets=args.nbuckets)
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
                            f"entry {first_c.index}")
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


class _Once(argparse.Action):
    """An option that may be given once (a second `--shadow` is an error)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string}: give only one shadow path")
        setattr(namespace, self.dest, values)


def normalize_logplay_argv(argv: Sequence[str]) -> list[str]:
    """`-sS DIR` means the same as `-Ss DIR` (shadow test, shadow tree in DIR): reference
    scripts spell it both ways, and a shadow tree named `S` is never what is meant."""
    return [part for arg in argv for part in (("-S", "-s") if arg == "-sS" else (arg,))]


def run_logplay(args: argparse.Namespace) -> int:
    from famfs.fs.filesystem import Filesystem

    check_access_method(args)
    if args.daxdev is not None and args.shadow is None:
        raise FamfsError("--daxdev is only used with a shadow logplay (--shadow DIR)")
    if args.daxdev is not None and args.target is not None:
        raise ArgumentsError(f"{args.target}: give either --daxdev DEVICE or a mount, not both")
    source = args.daxdev if args.daxdev is not None else args.target
    if source is None:
        raise ArgumentsError("name a mount, a device, or --shadow DIR --daxdev DEVICE")
    device, mountpoint = _device_of(source, "logplay", allow_mounted=True)
    if args.shadow is not None:
        from famfs.fs.shadow import check_shadow, write_shadow

        with Filesystem(device) as fs:
            stats = write_shadow(fs.namespace, args.shadow, dry_run=args.dry_run)
            entries = fs.applied
            if args.shadowtest and not args.dry_run:
                check_shadow(fs.namespace, args.shadow, only=stats.written)
        line = _logplay_line(entries, stats.new_files, stats.new_directories)
        print(f"famfs_logplay(shadow): {line}")
        if args.verbose:
            print(f"\tCreated:  {stats.new_files} files, {stats.new_directories} directories")
            print(f"\tExisted: {stats.existing_files} files, {stats.existing_directories} "
                  f"directories")
        for message in stats.errors:
            print(f"famfs logplay: {message}", file=sys.stderr)
        if stats.errors:
            print(f"\t{stats.file_errors} file errors and {stats.dir_errors} dir errors")
            return 1
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
    from famfs.fs.printable import printable
    from famfs.fs.target import require_target

    target = require_target(args.dir)
    if not target.relpath:
        if args.parents:
            return 0
        raise FamfsError(f"{args.dir}: is the filesystem root, which exists already")
    mode = args.mode if args.mode is not None else 0o777 & ~umask()
    uid = os.geteuid() if args.uid is None else args.uid
    gid = os.getegid() if args.gid is None else args.gid
    with Filesystem(target.device, writable=True) as fs:
        fs.mkdir(target.relpath, parents=args.parents, mode=mode, uid=uid, gid=gid)
    _notify_mount(target)
    if args.verbose:
        print(f"famfs mkdir: {printable(str(target))}")
    return 0


def run_clone(args: argparse.Namespace) -> int:
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.target import require_target

    src = require_target(args.src)
    dst = require_target(args.dst)
    if os.path.realpath(src.device) != os.path.realpath(dst.device):
        raise ArgumentsError(f"{args.src} and {args.dst} are on different famfs devices")
    if not src.relpath or not dst.relpath:
        raise ArgumentsError("clone copies a file to a new file; the root is neither")
    with Filesystem(src.device, writable=True) as fs:
        fs.clone(src.relpath, dst.relpath)
    _notify_mount(dst)
    return 0


# --- getmap, flush ------------------------------------------------------------------------


def _not_famfs_path(arg: str) -> FamfsError:
    """Why `arg` names no famfs file, with what to type instead."""
    from famfs.cli.cmd_data import holds_famfs

    if os.path.isfile(arg) and holds_famfs(arg):
        return ArgumentsError(f"{arg}: is a device or image, not a file in it; name a file as "
                          f"{arg}:PATH")
    if not os.path.lexists(arg):
        return NotFoundError(f"{arg}: no such file, and not DEVICE:PATH")
    return FamfsError(f"{arg}: not in a famfs filesystem")


def _meta_region(target: Target) -> tuple[int, int] | None:
    """(device offset, length) of `.meta/.superblock` or `.meta/.log` in a mount, else None."""
    from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE
    from famfs.omf.layout import LOG_OFFSET

    if target.mountpoint is None or target.relpath not in (SUPERBLOCK_FILE, LOG_FILE):
        return None
    if target.relpath == SUPERBLOCK_FILE:
        return 0, LOG_OFFSET
    return LOG_OFFSET, -1


def _famfs_file(arg: str, opened: OpenedFilesystems) -> tuple[Filesystem, File]:
    """(filesystem, File node) for `arg`, or FamfsError saying why it is not a famfs file."""
    from famfs.fs.namespace import File
    from famfs.fs.target import parse_target

    target = parse_target(arg)
    if target is None:
        raise _not_famfs_path(arg)
    fs = opened.get(target.device)
    node = fs.lookup(target.relpath)
    if not isinstance(node, File):
        raise IsDirectoryError(f"{arg}: is a directory, not a regular famfs file")
    return fs, node


def run_getmap(args: argparse.Namespace) -> int:
    from famfs.cli.opened import OpenedFilesystems
    from famfs.fs.printable import printable
    from famfs.fs.target import parse_target

    rc = 0
    with OpenedFilesystems(writable=False) as opened:
        for arg in args.files:
            try:
                target = parse_target(arg)
                region = None if target is None else _meta_region(target)
                if region is not None and target is not None:
                    text = _meta_map_text(arg, opened.get(target.device), region)
                else:
                    _, node = _famfs_file(arg, opened)
                    text = _map_text(arg, node)
            except FamfsError as exc:
                if not args.quiet:
                    print(f"famfs getmap: {error_text(exc)}", file=sys.stderr)
                rc = 1
                if not args.continue_on_error:
                    break
                continue
            if not args.quiet:
                sys.stdout.write(text)
                print(f"famfs_getmap: good file {printable(arg)}")
    return rc


def _meta_map_text(name: str, fs: Filesystem, region: tuple[int, int]) -> str:
    from famfs.fs.printable import printable

    offset, length = region
    if length < 0:
        length = fs.sb.log_len
    return (f"File:     {printable(name)}\n\tsize:    {length}\n\textents: 1\n"
            f"\t\t{offset:x}\t{length}\n")


def _map_text(name: str, node: File) -> str:
    from famfs.fs.printable import printable

    fmap = node.entry.fmap
    lines = [f"File:     {printable(name)}", f"\tsize:    {node.size}"]
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
    from famfs.fs.target import parse_target

    errors = 0
    with OpenedFilesystems(writable=True) as opened:
        for arg in args.files:
            try:
                target = parse_target(arg)
                region = None if target is None else _meta_region(target)
                if region is not None and target is not None:
                    fs = opened.get(target.device)
                    offset, length = region
                    fs.device.flush(offset, fs.sb.log_len if length < 0 else length)
                else:
                    fs, node = _famfs_file(arg, opened)
                    fs.flush_file(node)
                if args.verbose:
                    print(f"famfs flush: {arg}")
            except FamfsError as exc:
                print(f"famfs flush: {error_text(exc)}", file=sys.stderr)
                errors += 1
    if errors:
        print(f"famfs flush: {errors} errors were detected")
        return 1
    return 0


# --- chkread, mkmeta ----------------------------------------------------------------------


def run_chkread(args: argparse.Namespace) -> int:
    """Read a file with read(2) and through mmap(2) and compare the two (as the reference)."""
    path = args.file
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise FamfsError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        by_read = b"".join(chunks)
        by_mmap = b""
        if size:
            with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mm:
                by_mmap = bytes(mm)
    except OSError as exc:
        raise FamfsError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    print(f"read tried={size} got={len(by_read)}")
    if args.superblock:
        _dump_superblock(by_mmap, "superblock by mmap")
        _dump_superblock(by_read, "superblock by read")
    if args.log:
        _dump_log(by_mmap, "log by mmap")
        _dump_log(by_read, "log by read")
    if by_read != by_mmap:
        print(f"famfs chkread: {path}: read and mmap miscompare", file=sys.stderr)
        return 1
    print("Read and mmap match")
    return 0


def _dump_superblock(buf: bytes, title: str) -> None:
    from famfs.omf.superblock import Superblock

    print(f"{title}:")
    try:
        sb = Superblock.decode(buf)
    except FamfsError as exc:
        print(f"  invalid: {exc}")
        return
    print(f"  version {sb.version}, OMF {sb.omf_major}.{sb.omf_minor}, alloc_unit "
          f"{sb.alloc_unit:#x}, log {sb.log_len} bytes at {sb.log_offset:#x}")
    print(f"  filesystem {sb.fs_uuid}, system {sb.system_uuid}, device size {sb.device_size}")


def _dump_log(buf: bytes, title: str) -> None:
    from famfs.omf.log import LogHeader

    print(f"{title}:")
    try:
        head = LogHeader.decode(buf, len(buf))
    except FamfsError as exc:
        print(f"  invalid: {exc}")
        return
    print(f"  {head.log_len} bytes, {head.next_index} of {head.slots} entries used")


def run_mkmeta(args: argparse.Namespace) -> int:
    """The reference makes the `.meta` files of a standalone mount by hand; a pyfamfs mount
    always has them. Check DEVICE and say where they are."""
    from famfs.fs.filesystem import Filesystem
    from famfs.fs.mounts import mount_of
    from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE

    device = args.device
    if not os.path.exists(device):
        raise NotFoundError(f"{device}: no such device or image file")
    with Filesystem(device):
        pass
    mountpoint = mount_of(device)
    if mountpoint is None:
        print(f"{device}: not mounted; famfs mount provides {SUPERBLOCK_FILE} and {LOG_FILE}")
    else:
        print(f"{device}: mounted at {mountpoint}; {os.path.join(mountpoint, SUPERBLOCK_FILE)}"
              f" and {os.path.join(mountpoint, LOG_FILE)} are in place")
    return 0


# --- registration -------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add mkfs, fsck, logplay, mkdir, getmap, clone, flush, chkread and mkmeta to `famfs`."""
    mkfs_parser(subparsers.add_parser("mkfs", help="make a famfs filesystem (as mkfs.famfs)"))

    p = subparsers.add_parser(
        "fsck", help_flags=("-?", "--help"),
        help="check a famfs: superblock, log, entries, cross-links",
        description="Check the superblock and the log of a famfs, every log entry, and that "
                    "no two files share space. Exit 0 when nothing is wrong.")
    p.add_argument("-h", "--human", action="store_true", help="sizes in G (not help: -? is)")
    add_verbose(p)
    p.add_argument("-f", "--force", action="store_true",
                   help="check a mounted device by its device path anyway (read-only)")
    p.add_argument("-B", "--nbuckets", type=int, default=0, metavar="N",
                   help="also report the space of N equal buckets of the device")
    add_access_flags(p)
    p.add_argument("-D", "--nodax", action="store_true",
                   help="accepted for compatibility: devices are always opened as files")
    add_fuse_flags(p, short=False)
    p.add_argument("target", metavar="DEVICE_OR_MOUNT", help="device, image file or mount")
    p.set_defaults(func=run_fsck)

    p = subparsers.add_parser(
        "logplay", help="replay the log into a mount or a shadow tree",
        description="Replay the log: into a live mount (its server adds what is new), or with "
                    "--shadow into a tree of YAML files (straight from a device with --daxdev). "
                    "Prints how many entries were read and what was new.")
    p.add_argument("-n", "--dryrun", dest="dry_run", action="store_true",
                   help="report what would be added, change nothing")
    add_verbose(p)
    add_access_flags(p)
    p.add_argument("-c", "--client", action="store_true",
                   help="replay as a client would (accepted: a replay never writes the log)")
    p.add_argument("-s", "--shadow", metavar="DIR", default=None, action=_Once,
                   help="replay into a shadow tree of YAML files under DIR/root (DIR is made "
                        "if its parent exists)")
    p.add_argument("-S", "--shadowtest", action="store_true",
                   help="with --shadow: read each YAML file written back and check it against "
                        "the log")
    p.add_argument("-d", "--daxdev", metavar="DEVICE", default=None,
                   help="with --shadow: read the log from DEVICE (no mount needed)")
    p.add_argument("target", metavar="MOUNT_OR_DEVICE", nargs="?", default=None,
                   help="a famfs mount (or a path in it), or a device")
    p.set_defaults(func=run_logplay)

    p = subparsers.add_parser("mkdir", help="log a directory (master only)",
                              description="Log a directory in a famfs (master only).")
    p.add_argument("-p", "--parents", action="store_true",
                   help="create missing parents; an existing directory is fine")
    p.add_argument("-m", "--mode", type=mode_arg, default=None,
                   help="octal mode (default 0777 less the umask)")
    p.add_argument("-u", "--uid", type=id_arg, default=None, help="owner (default: you)")
    p.add_argument("-g", "--gid", type=id_arg, default=None, help="group (default: yours)")
    add_verbose(p)
    p.add_argument("dir", metavar="DIR", help="DEVICE:PATH or a path in a famfs mount")
    p.set_defaults(func=run_mkdir)

    p = subparsers.add_parser("getmap", help="print the extents or strips of famfs files",
                              description="Print where the bytes of famfs files are on the "
                                          "device. Exit 0 when every FILE is a famfs file.")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit status only")
    p.add_argument("-c", "--continue", dest="continue_on_error", action="store_true",
                   help="go on after a file that is not a famfs file")
    add_verbose(p)
    p.add_argument("files", metavar="FILE", nargs="+",
                   help="DEVICE:PATH or a path in a famfs mount")
    p.set_defaults(func=run_getmap)

    p = subparsers.add_parser("clone", help="test only: log DST with SRC's extents (a "
                                            "cross-link fsck must catch)",
                              description="Testing only: log DST with the extents of SRC, a "
                                          "deliberate cross-link that fsck reports.")
    add_verbose(p)
    p.add_argument("src", metavar="SRC", help="an existing famfs file")
    p.add_argument("dst", metavar="DST", help="the new name, on the same device")
    p.set_defaults(func=run_clone)

    p = subparsers.add_parser("flush", help="make files durable and visible to other hosts",
                              description="Write back files' bytes (msync on image files) so "
                                          "other hosts see them. Directories are errors.")
    add_verbose(p)
    p.add_argument("files", metavar="FILE", nargs="+",
                   help="DEVICE:PATH, a path in a famfs mount, or its .meta files")
    p.set_defaults(func=run_flush)

    p = subparsers.add_parser("chkread", help="check that read(2) and mmap(2) of a file agree",
                              description="Read FILE with read(2) and through a mapping and "
                                          "compare the bytes; exit 0 when they match.")
    p.add_argument("-s", dest="superblock", action="store_true",
                   help="FILE is a famfs superblock (.meta/.superblock): print it")
    p.add_argument("-l", dest="log", action="store_true",
                   help="FILE is a famfs log (.meta/.log): print its header")
    p.add_argument("file", metavar="FILE", help="a file, e.g. MOUNT/.meta/.log")
    p.set_defaults(func=run_chkread)

    p = subparsers.add_parser("mkmeta", help="check a device; mounts provide the .meta files",
                              description="The reference makes a standalone mount's .meta "
                                          "files by hand. A pyfamfs mount always has them: "
                                          "this checks DEVICE and says where they are.")
    add_verbose(p)
    p.add_argument("device", metavar="DEVICE", help="image file or DAX device")
    p.set_defaults(func=run_mkmeta)
