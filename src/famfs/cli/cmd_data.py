"""`famfs creat`, `famfs cp` and `famfs verify`: making files and putting data in them.

Famfs files are named DEVICE:PATH or by a path inside a famfs mount (famfs.fs.target);
`cp` sources are ordinary local paths. Creation is master-only and batched: many files are
allocated and logged in one append under the device's append lock.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import mmap
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import NamedTuple, TypeVar

from famfs.alloc import InterleaveParams
from famfs.cli.main import ArgumentsError, CommandParser, add_verbose, error_text
from famfs.cli.opened import OpenedFilesystems
from famfs.cli.sizes import count_arg, id_arg, int_arg, mode_arg, parse_size, size_arg, umask
from famfs.errors import FamfsError, NotDirectoryError, NotFoundError, RoleError
from famfs.fs.copy import (
    CopyItem,
    CopyPlan,
    CopyResult,
    Runs,
    compare_data,
    plan_copy,
    run_copy,
)
from famfs.fs.filesystem import Filesystem, NewFile, Reservation
from famfs.fs.namespace import File
from famfs.fs.target import Target, parse_target, require_target
from famfs.progress import Progress

DEFAULT_CHUNK = 2 * 1024 * 1024
MAX_THREADS = 256
"""Most threads `-t` may ask for (0 means: do the work in the calling thread), as the
reference."""

T = TypeVar("T")


def _pattern() -> ModuleType:
    """famfs.pattern, imported on first use: it needs NumPy, which `cp` does not."""
    from famfs import pattern

    return pattern


def _mapping_pieces() -> Callable[[Filesystem, File], Pieces]:
    """famfs.mapping.files.file_pieces, imported on first use: `creat` without a pattern
    never maps a file."""
    from famfs.mapping.files import file_pieces

    return file_pieces


def _mapping_runs() -> Callable[[Filesystem, File], Runs]:
    """famfs.mapping.files.file_runs, imported on first use (see _mapping_pieces)."""
    from famfs.mapping.files import file_runs

    return file_runs


def file_pieces(fs: Filesystem, node: File) -> Pieces:
    """(file offset, device view) of every run of the bytes of `node`."""
    return _mapping_pieces()(fs, node)


def _warn(prog: str, message: str) -> None:
    print(f"famfs {prog}: {message}", file=sys.stderr)


def thread_arg(text: str) -> int:
    """argparse type for `-t`: 0 to 256 threads (0 and 1 both mean one thread)."""
    value = int_arg(text)
    if not 0 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"thread count {text!r} is not between 0 and "
                                         f"{MAX_THREADS}")
    return value


def holds_famfs(path: str) -> bool:
    """Whether regular file `path` starts with a famfs superblock magic."""
    from famfs.omf.superblock import SUPERBLOCK_MAGIC

    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and int.from_bytes(head, "little") == SUPERBLOCK_MAGIC


def _add_interleave_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-N", "--nstrips", type=count_arg,
                   help="strips per interleaved file (on a multi-device famfs, one per device)")
    p.add_argument("-B", "--nbuckets", type=count_arg,
                   help="buckets the device is split into (single-device famfs)")
    p.add_argument("-C", "--chunksize", type=size_arg,
                   help="interleave chunk size (default 2M)")
    p.add_argument("--device", type=int_arg, metavar="N", default=None,
                   help="put each (contiguous) file on device N of a multi-device famfs "
                        "(default: a random device, the others tried when it is full)")


def _interleave(args: argparse.Namespace) -> InterleaveParams | None:
    if args.nstrips is None and args.nbuckets is None and args.chunksize is None:
        return None
    if args.nstrips is None:
        raise ArgumentsError("interleaved allocation needs -N NSTRIPS (and -B NBUCKETS on a "
                             "single-device famfs)")
    return InterleaveParams(nbuckets=args.nbuckets, nstrips=args.nstrips,
                            chunk_size=args.chunksize or DEFAULT_CHUNK)


Pieces = list[tuple[int, memoryview]]
"""(file offset, device view) runs of a file, in file order."""

PROGRESS_STEP = 256 * 1024 * 1024
"""Bytes filled or verified between progress updates."""


def _batches(pieces: Pieces, limit: int = PROGRESS_STEP) -> Iterator[Pieces]:
    """The pieces in file order, long ones cut and short ones grouped, about `limit` bytes
    per batch."""
    batch: list[tuple[int, memoryview]] = []
    size = 0
    for off, view in pieces:
        for lo in range(0, len(view), limit):
            part = view[lo:lo + limit]
            batch.append((off + lo, part))
            size += len(part)
            if size >= limit:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def run_each(func: Callable[[T], None], items: Sequence[T], threads: int) -> None:
    """func(item) for every item, by `threads` threads (in order, here, when 1); the first
    exception is raised after all have run."""
    if threads <= 1 or len(items) <= 1:
        for item in items:
            func(item)
        return
    from concurrent.futures import ThreadPoolExecutor  # about 7 ms to import

    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        for future in [pool.submit(func, item) for item in items]:
            future.result()


def _randomize(fs: Filesystem, node: File, seed: int, name: str) -> None:
    progress = Progress(f"randomize {name}", node.size)
    for batch in _batches(file_pieces(fs, node)):
        _pattern().fill_pieces(batch, seed)
        progress.advance(sum(len(v) for _, v in batch))
    progress.finish()


def _first_mismatch(pieces: Pieces, seed: int, size: int, name: str) -> int | None:
    progress = Progress(f"verify {name}", size)
    try:
        for batch in _batches(pieces):
            bad = _pattern().first_mismatch_pieces(batch, seed)
            if bad is not None:
                return int(bad)
            progress.advance(sum(len(v) for _, v in batch))
        return None
    finally:
        progress.finish()


# --- creat --------------------------------------------------------------------------------

class _Multi(NamedTuple):
    target: Target | None
    """None: the name is not a famfs path (an error for this file only)."""
    size: int
    """0: the file exists already; use its size."""
    seed: int | None
    name: str


class _TargetParser:
    """parse_target for many names in one command: a name DEVICE:PATH whose DEVICE (the
    text before its first colon) was a device for an earlier name is that device's PATH
    at once, as parse_target would find it, without looking at DEVICE again."""

    def __init__(self) -> None:
        self.devices: set[str] = set()

    def __call__(self, name: str) -> Target | None:
        device, colon, path = name.partition(":")
        if colon and device in self.devices:
            return Target(device, path.strip("/"))
        target = parse_target(name)
        if target is not None and target.mountpoint is None and ":" not in target.device \
                and name.startswith(target.device + ":"):
            self.devices.add(target.device)
        return target


def _parse_multi(text: str, targets: Callable[[str], Target | None] = parse_target
                 ) -> _Multi:
    parts = text.split(",")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ArgumentsError(f"-M {text!r}: expected NAME,SIZE or NAME,SIZE,SEED")
    try:
        size = parse_size(parts[1])
        seed = int(parts[2], 0) if len(parts) == 3 else None
    except ValueError:
        raise ArgumentsError(f"-M {text!r}: bad size or seed") from None
    if seed == 0:
        seed = None  # as the reference: seed 0 means "do not randomize"
    if seed is not None:
        _pattern().check_seed(seed)
    return _Multi(targets(parts[0]), size, seed, parts[0])


def _creat_one(args: argparse.Namespace, mode: int, interleave: InterleaveParams | None) -> int:
    if not args.file:
        raise ArgumentsError("a FILE to create is required")
    seed = args.seed if args.randomize and args.seed else None  # seed 0: do not randomize
    if seed is not None:
        _pattern().check_seed(seed)
    if args.size == 0:
        raise ArgumentsError("-s 0: famfs files cannot be empty")
    target = require_target(args.file)
    with Filesystem(target.device, writable=True) as fs:
        size = args.size
        if size is None:
            existing = fs.namespace.find(target.relpath)
            if not isinstance(existing, File):
                raise ArgumentsError(f"{args.file}: does not exist, so its size (-s) is required")
            size = existing.size
        spec = NewFile(target.relpath, size, mode, args.uid, args.gid, interleave,
                       args.device)
        if seed is None:
            node = fs.create_files([spec])[0]
        else:
            # Data before metadata: the file is logged once its bytes are in place.
            with fs.reserve([spec]) as reservation:
                node = reservation.files[0]
                _randomize(fs, node, seed, args.file)
                if node.index is not None:
                    fs.flush_file(node)
                node = reservation.commit()[0]
        if args.verbose:
            print(f"{args.file}: {node.size} bytes" + (" randomized" if seed else ""))
    return 0


def _creat_multi(args: argparse.Namespace, mode: int, interleave: InterleaveParams | None) -> int:
    if args.file or args.size is not None or args.seed is not None:
        raise ArgumentsError("-M cannot be combined with FILE, -s or -S")
    targets = _TargetParser()
    multis = [_parse_multi(m, targets) for m in args.multi]
    by_device: dict[str, list[_Multi]] = {}
    errors = 0
    for m in multis:
        if m.target is None:
            _warn("creat", f"{m.name}: not a famfs path; use DEVICE:PATH or a path in a famfs "
                           f"mount")
            errors += 1
            continue
        by_device.setdefault(m.target.device, []).append(m)
    created = 0
    for device, group in by_device.items():
        with Filesystem(device, writable=True) as fs:
            before = fs.namespace.files
            group = _sized(fs, group)
            errors += len(multis_on(device, multis)) - len(group)
            reserved = _reserve_group(fs, group, mode, args, interleave)
            errors += len(group) - sum(len(members) for members, _ in reserved)
            for members, reservation in reserved:
                with reservation:
                    _fill_seeded(fs, members, reservation, args.threadct or 1)
                    reservation.commit()
                for node, exc in reservation.errors:
                    _warn("creat", f"{device}:{node.relpath}: {error_text(exc)}")
                errors += len(reservation.errors)
            created += fs.namespace.files - before
    print(f"Create complete for {created} of {len(multis)} files with {errors} errs")
    return 1 if errors else 0


def _fill_seeded(fs: Filesystem, members: list[_Multi], reservation: Reservation,
                 threads: int) -> None:
    """Fill every reserved file that has a seed with its verify pattern."""
    seeded = [(m.seed, node) for m, node in zip(members, reservation.files, strict=True)
              if m.seed is not None]
    progress = Progress("randomize", sum(node.size for _, node in seeded))

    def fill(job: tuple[int, File]) -> None:
        seed, node = job
        _pattern().fill_pieces(file_pieces(fs, node), seed)
        if node.index is not None:
            fs.flush_file(node)
        progress.advance(node.size)

    run_each(fill, seeded, threads)
    progress.finish()


def multis_on(device: str, multis: list[_Multi]) -> list[_Multi]:
    return [m for m in multis if m.target is not None and m.target.device == device]


def _sized(fs: Filesystem, group: list[_Multi]) -> list[_Multi]:
    """The group with size 0 replaced by the size of the existing file; a new file of size
    0 is reported and dropped."""
    out = []
    for m in group:
        if m.size == 0:
            assert m.target is not None
            node = fs.namespace.find(m.target.relpath)
            if not isinstance(node, File):
                _warn("creat", f"{m.name}: size 0 is only allowed for an existing file (famfs "
                               f"files cannot be empty)")
                continue
            m = _Multi(m.target, node.size, m.seed, m.name)
        out.append(m)
    return out


def _reserve_group(fs: Filesystem, group: list[_Multi], mode: int, args: argparse.Namespace,
                   interleave: InterleaveParams | None
                   ) -> list[tuple[list[_Multi], Reservation]]:
    """One reservation for the group, or, if one bad file fails it, one per file (each bad
    file reported)."""
    specs = [NewFile(m.target.relpath, m.size, mode, args.uid, args.gid, interleave,
                     args.device) for m in group if m.target is not None]
    try:
        return [(group, fs.reserve(specs))]
    except RoleError:
        raise
    except FamfsError as exc:
        if len(group) == 1:
            _warn("creat", f"{group[0].target}: {error_text(exc)}")
            return []
    out = []
    for m, spec in zip(group, specs, strict=True):
        try:
            out.append(([m], fs.reserve([spec])))
        except FamfsError as exc:
            _warn("creat", f"{m.target}: {error_text(exc)}")
    return out


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (as it was before, afterwards). Making many files
    builds a few small objects per file, none of them garbage; the collector's passes over
    them would cost about a quarter of the command's time. Reference counting still frees
    everything that is not part of a cycle."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def cmd_creat(args: argparse.Namespace) -> int:
    with _collector_paused():
        return _creat(args)


def _creat(args: argparse.Namespace) -> int:
    if args.seed and not args.randomize:
        raise ArgumentsError("seed (-S) without randomize (-r)")
    interleave = _interleave(args)
    mode = (0o644 if args.mode is None else args.mode) & ~umask()
    if args.multi:
        return _creat_multi(args, mode, interleave)
    return _creat_one(args, mode, interleave)


# --- cp -----------------------------------------------------------------------------------

def _check_slash_dest(fs: Filesystem, dest: str, relpath: str) -> None:
    """A destination written with a trailing `/` must be an existing directory."""
    from famfs.fs.namespace import Directory

    if dest.endswith("/") and relpath and not isinstance(fs.namespace.find(relpath),
                                                         Directory):
        raise NotDirectoryError(f"{dest}: not a directory (a destination ending in / must be an "
                         f"existing directory)")


def _compare_only(fs: Filesystem, plan: CopyPlan, dest: Target, verbose: int) -> list[str]:
    """`cp -c`: compare each planned file with its famfs copy; never write. One message per
    file that is missing, of another size, or different."""
    errors = list(plan.errors)
    for item in plan.files:
        shown = f"{dest.device}:{item.relpath}" if dest.mountpoint is None else \
            os.path.join(dest.mountpoint, item.relpath)
        node = fs.namespace.find(item.relpath)
        if not isinstance(node, File):
            errors.append(f"{shown}: compare: no such famfs file")
            continue
        if node.size != item.size:
            errors.append(f"{shown}: compare: {node.size} bytes, {item.source} has {item.size}")
            continue
        try:
            bad = compare_data(file_pieces(fs, node), node, item.source)
        except OSError as exc:
            errors.append(f"{item.source}: compare: {exc.strerror}")
            continue
        if bad is not None:
            errors.append(f"{shown}: compare: differs from {item.source} at offset {bad}")
        elif verbose:
            print(f"{item.source} == {shown}", flush=True)
    return errors


def cmd_cp(args: argparse.Namespace) -> int:
    with _collector_paused():
        return _cp(args)


def _cp(args: argparse.Namespace) -> int:
    if len(args.paths) < 2:
        raise ArgumentsError("SRC and DEST are required")
    *sources, dest = args.paths
    target = require_target(dest)
    interleave = _interleave(args)
    mode = None if args.mode is None else args.mode & ~umask()
    with Filesystem(target.device, writable=not args.compare) as fs:
        _check_slash_dest(fs, dest, target.relpath)
        if args.compare:
            plan = plan_copy(fs, sources, target.relpath, args.recursive, mode)
            errors = _compare_only(fs, plan, target, args.verbose)
            for message in errors:
                _warn("cp", message)
            return 1 if errors else 0
        fs.check_master("copy files in")
        plan = plan_copy(fs, sources, target.relpath, args.recursive, mode)
        progress = Progress("cp", sum(f.size for f in plan.files))

        def on_file(item: CopyItem) -> None:
            progress.advance(item.size)
            if args.verbose:
                print(f"{item.source} -> {target.device}:{item.relpath}", flush=True)

        result: CopyResult = run_copy(fs, plan, args.uid, args.gid, runs_of=_mapping_runs(),
                                      interleave=interleave, compare=False, on_file=on_file,
                                      threads=args.threadct or 1, device=args.device)
        progress.finish()
    for message in result.errors:
        _warn("cp", message)
    return 1 if result.errors else 0


# --- verify -------------------------------------------------------------------------------

def _verify_local(path: str, seed: int) -> tuple[int, int | None]:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0, None
        with mmap.mmap(fh.fileno(), size, prot=mmap.PROT_READ) as mm:
            view = memoryview(mm)
            try:
                return size, _first_mismatch([(0, view)], seed, size, path)
            finally:
                view.release()


def _verify_one(name: str, seed: int, quiet: bool, opened: OpenedFilesystems) -> int:
    _pattern().check_seed(seed)
    target = parse_target(name)
    if target is None:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise NotFoundError(f"{name}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise FamfsError(f"{name}: not a famfs path or a regular file")
        if holds_famfs(name):
            raise ArgumentsError(f"{name}: is a famfs image, not a file in it; name a file as "
                             f"{name}:PATH")
        size, bad = _verify_local(name, seed)
    else:
        fs = opened.get(target.device)
        node = fs.file(target.relpath)
        size = node.size
        bad = _first_mismatch(file_pieces(fs, node), seed, size, name)
    if bad is not None:
        print(f"Verify fail: {name} at offset {bad} of {size} bytes", file=sys.stderr)
        return 1
    if not quiet:
        print(f"Success: verified {size} bytes in file {name}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.multi and (args.seed is not None or args.file):
        raise ArgumentsError("-m cannot be combined with -S or -f")
    jobs: list[tuple[str, int]] = []
    if args.multi:
        for text in args.multi:
            name, sep, seed_text = text.rpartition(",")
            try:
                seed = int(seed_text, 0)
            except ValueError:
                seed = -1
            if not sep or not name or seed < 0:
                raise ArgumentsError(f"-m {text!r}: expected FILE,SEED")
            jobs.append((name, seed))
    else:
        if not args.file:
            raise ArgumentsError("a file (-f FILE) is required")
        if args.seed is None:
            raise ArgumentsError("a seed (-S SEED) is required")
        jobs.append((args.file, args.seed))
    failed: list[int] = []

    def verify(job: tuple[str, int], opened: OpenedFilesystems) -> None:
        name, seed = job
        try:
            failed.append(_verify_one(name, seed, args.quiet, opened))
        except FamfsError as exc:
            if not args.multi:
                raise
            _warn("verify", f"{name}: {error_text(exc)}")
            failed.append(1)

    with OpenedFilesystems(writable=False) as opened:
        run_each(lambda job: verify(job, opened), jobs, args.threadct or 1)
    errors = sum(failed)
    if args.multi:
        print(f"Verify complete for {len(jobs)} files with {errors} errs")
    return 1 if errors else 0


# --- registration -------------------------------------------------------------------------

class _RepeatableOptionParser(CommandParser):
    """An argparse parser that collects one repeatable option (`repeat_flags`, stored in
    `multi`) in a single linear pass: argparse's own handling of N repeated options costs
    O(N^2), which is seconds for the 10,000 `-M` of one `creat`."""

    repeat_flags: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        argv = list(sys.argv[1:] if args is None else args)
        flags = set(self.repeat_flags)
        long_flag = next((f for f in self.repeat_flags if f.startswith("--")), None)
        long_prefix = None if long_flag is None else long_flag + "="
        short = tuple(f for f in self.repeat_flags if len(f) == 2)
        values: list[str] = []
        rest: list[str] = []
        i = 0
        count = len(argv)
        while i < count:
            arg = argv[i]
            if arg == "--":
                rest.extend(argv[i:])
                break
            if arg in flags and i + 1 < count:
                values.append(argv[i + 1])
                i += 2
                continue
            if long_prefix and arg.startswith(long_prefix):
                values.append(arg[len(long_prefix):])
            elif len(arg) > 2 and arg.startswith(short):
                values.append(arg[2:])
            else:
                rest.append(arg)
            i += 1
        parsed, extra = super().parse_known_args(rest, namespace)
        if values:
            parsed.multi = (parsed.multi or []) + values
        return parsed, extra


def _repeatable(parser: argparse.ArgumentParser, *flags: str) -> None:
    parser.__class__ = _RepeatableOptionParser
    parser.repeat_flags = flags  # type: ignore[attr-defined]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `creat`, `cp` and `verify` to the `famfs` command line."""
    p = subparsers.add_parser(
        "creat", help="allocate and log files (optionally randomized)",
        description="Allocate and log a file of exactly SIZE bytes (master only). The same "
                    "path and size again is a no-op (with -r -S it re-randomizes); a "
                    "different size fails. -M creates many files in one call.")
    p.add_argument("-s", "--size", type=size_arg,
                   help="file size (k/m/g suffixes); may be left out for an existing file")
    p.add_argument("-S", "--seed", type=int_arg,
                   help="seed of the verify pattern (needs -r; 0 means no pattern)")
    p.add_argument("-r", "--randomize", action="store_true",
                   help="fill the file with the verify pattern of -S SEED")
    p.add_argument("-m", "--mode", type=mode_arg, help="octal mode (default 0644, less umask)")
    p.add_argument("-u", "--uid", type=id_arg, default=os.geteuid(),
                   help="owner (default: you)")
    p.add_argument("-g", "--gid", type=id_arg, default=os.getegid(),
                   help="group (default: yours)")
    p.add_argument("-M", "--multi", action="append", metavar="NAME,SIZE[,SEED]",
                   help="create many files in one call (repeatable; SIZE 0: the existing "
                        "file's size; SEED 0 or none: no pattern)")
    p.add_argument("-t", "--threadct", type=thread_arg,
                   help=f"threads filling the -M files that have a seed (0..{MAX_THREADS}; "
                        f"default 1)")
    add_verbose(p)
    _add_interleave_args(p)
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="DEVICE:PATH or a path in a famfs mount")
    p.set_defaults(func=cmd_creat)
    _repeatable(p, "-M", "--multi")

    p = subparsers.add_parser(
        "cp", help="copy local files into famfs",
        description="Copy regular files into famfs: each is allocated and logged at its size, "
                    "then its data is copied in. With several sources or -r, DEST is a "
                    "directory; with -r the contents of each SRC directory go into DEST "
                    "(made if missing; its parent must exist). A destination file of the "
                    "same size is overwritten, so an interrupted copy can be rerun. Empty "
                    "files, devices and directories without -r are skipped with an error; "
                    "the rest is copied. With -c nothing is copied: each source is compared "
                    "with its famfs copy.")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="copy directories and their contents")
    p.add_argument("-t", "--threadct", type=thread_arg,
                   help=f"threads copying file data (0..{MAX_THREADS})")
    p.add_argument("-m", "--mode", type=mode_arg,
                   help="octal mode (default: each source's permission bits)")
    p.add_argument("-u", "--uid", type=id_arg, default=os.getuid(), help="owner (default: you)")
    p.add_argument("-g", "--gid", type=id_arg, default=os.getgid(),
                   help="group (default: yours)")
    p.add_argument("-c", "--compare", action="store_true",
                   help="only compare each source with its famfs copy (nothing is written); "
                        "a difference is an error")
    add_verbose(p)
    _add_interleave_args(p)
    p.add_argument("paths", nargs="+", metavar="SRC", help="sources, then DEST (last)")
    p.set_defaults(func=cmd_cp)

    p = subparsers.add_parser(
        "verify", help="check a file against the verify pattern",
        description="Check that a file holds the verify pattern of SEED (as written by "
                    "creat -r -S SEED); reports the first offset that differs.")
    p.add_argument("-S", "--seed", type=int_arg, help="the seed the file was filled with")
    p.add_argument("-f", "--filename", dest="file", metavar="FILE",
                   help="DEVICE:PATH, a path in a famfs mount, or a local file")
    p.add_argument("-m", "--multi", action="append", metavar="FILE,SEED",
                   help="verify several files (repeatable)")
    p.add_argument("-t", "--threadct", type=thread_arg,
                   help=f"threads verifying the -m files (0..{MAX_THREADS}; default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    add_verbose(p)
    p.set_defaults(func=cmd_verify)
    _repeatable(p, "-m", "--multi")
