"""`famfs creat`, `famfs cp` and `famfs verify`: making files and putting data in them.

Famfs files are named DEVICE:PATH or by a path inside a famfs mount (famfs.fs.target);
`cp` sources are ordinary local paths. Creation is master-only and batched: many files are
allocated and logged in one append under the device's append lock.
"""

from __future__ import annotations

import argparse
import mmap
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from famfs.alloc import InterleaveParams
from famfs.cli.opened import OpenedFilesystems
from famfs.cli.sizes import count_arg, id_arg, int_arg, mode_arg, parse_size, size_arg, umask
from famfs.errors import FamfsError, RoleError, UsageError
from famfs.fs.copy import (
    CopyItem,
    CopyResult,
    file_pieces,
    plan_copy,
    run_copy,
)
from famfs.fs.filesystem import Filesystem, NewFile, Reservation
from famfs.fs.namespace import File
from famfs.fs.target import Target, parse_target, require_target
from famfs.progress import Progress

DEFAULT_CHUNK = 2 * 1024 * 1024

T = TypeVar("T")


def _pattern() -> ModuleType:
    """famfs.pattern, imported on first use: it needs NumPy, which `cp` does not."""
    from famfs import pattern

    return pattern


def _warn(prog: str, message: str) -> None:
    print(f"famfs {prog}: {message}", file=sys.stderr)


def _add_interleave_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-N", "--nstrips", type=count_arg, help="strips per interleaved file")
    p.add_argument("-B", "--nbuckets", type=count_arg, help="buckets the device is split into")
    p.add_argument("-C", "--chunksize", type=size_arg,
                   help="interleave chunk size (default 2M)")


def _interleave(args: argparse.Namespace) -> InterleaveParams | None:
    if args.nstrips is None and args.nbuckets is None and args.chunksize is None:
        return None
    if args.nstrips is None or args.nbuckets is None:
        raise UsageError("interleaved allocation needs both -N NSTRIPS and -B NBUCKETS")
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

@dataclass(frozen=True)
class _Multi:
    target: Target
    size: int
    seed: int | None


def _parse_multi(text: str) -> _Multi:
    parts = text.split(",")
    if len(parts) not in (2, 3) or not parts[0]:
        raise UsageError(f"-M {text!r}: expected NAME,SIZE or NAME,SIZE,SEED")
    try:
        size = parse_size(parts[1])
        seed = int(parts[2], 0) if len(parts) == 3 else None
    except ValueError:
        raise UsageError(f"-M {text!r}: bad size or seed") from None
    if size == 0:
        raise UsageError(f"-M {text!r}: size 0 is not allowed (famfs files cannot be empty)")
    if seed is not None:
        _pattern().check_seed(seed)
    return _Multi(require_target(parts[0]), size, seed)


def _creat_one(args: argparse.Namespace, mode: int, interleave: InterleaveParams | None) -> int:
    if not args.file:
        raise UsageError("creat: a FILE to create is required")
    if args.randomize and args.seed is None:
        raise UsageError("-r needs a seed (-S SEED) so the file can be verified later")
    if args.seed is not None:
        _pattern().check_seed(args.seed)
    if args.size == 0:
        raise UsageError("-s 0: famfs files cannot be empty")
    target = require_target(args.file)
    with Filesystem(target.device, writable=True) as fs:
        size = args.size
        if size is None:
            existing = fs.namespace.find(target.relpath)
            if not isinstance(existing, File):
                raise UsageError(f"{args.file}: does not exist, so its size (-s) is required")
            size = existing.size
        spec = NewFile(target.relpath, size, mode, args.uid, args.gid, interleave)
        if not args.randomize:
            node = fs.create_files([spec])[0]
        else:
            # Data before metadata: the file is logged once its bytes are in place.
            with fs.reserve([spec]) as reservation:
                node = reservation.files[0]
                _randomize(fs, node, args.seed, args.file)
                if node.index is not None:
                    fs.flush_file(node)
                node = reservation.commit()[0]
        if args.verbose:
            print(f"{args.file}: {node.size} bytes" + (" randomized" if args.randomize else ""))
    return 0


def _creat_multi(args: argparse.Namespace, mode: int, interleave: InterleaveParams | None) -> int:
    if args.file or args.size is not None or args.seed is not None:
        raise UsageError("-M cannot be combined with FILE, -s or -S")
    multis = [_parse_multi(m) for m in args.multi]
    by_device: dict[str, list[_Multi]] = {}
    for m in multis:
        by_device.setdefault(m.target.device, []).append(m)
    errors = 0
    created = 0
    for device, group in by_device.items():
        with Filesystem(device, writable=True) as fs:
            before = fs.namespace.files
            reserved = _reserve_group(fs, group, mode, args, interleave)
            errors += len(group) - sum(len(members) for members, _ in reserved)
            for members, reservation in reserved:
                with reservation:
                    _fill_seeded(fs, members, reservation, args.threadct or 1)
                    reservation.commit()
                for node, exc in reservation.errors:
                    _warn("creat", f"{device}:{node.relpath}: {exc}")
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


def _reserve_group(fs: Filesystem, group: list[_Multi], mode: int, args: argparse.Namespace,
                   interleave: InterleaveParams | None
                   ) -> list[tuple[list[_Multi], Reservation]]:
    """One reservation for the group, or, if one bad file fails it, one per file (each bad
    file reported)."""
    specs = [NewFile(m.target.relpath, m.size, mode, args.uid, args.gid, interleave)
             for m in group]
    try:
        return [(group, fs.reserve(specs))]
    except RoleError:
        raise
    except FamfsError as exc:
        if len(group) == 1:
            _warn("creat", f"{group[0].target}: {exc}")
            return []
    out = []
    for m, spec in zip(group, specs, strict=True):
        try:
            out.append(([m], fs.reserve([spec])))
        except FamfsError as exc:
            _warn("creat", f"{m.target}: {exc}")
    return out


def cmd_creat(args: argparse.Namespace) -> int:
    if args.seed is not None and not args.randomize:
        raise UsageError("seed (-S) without randomize (-r)")
    interleave = _interleave(args)
    mode = (0o644 if args.mode is None else args.mode) & ~umask()
    if args.multi:
        return _creat_multi(args, mode, interleave)
    return _creat_one(args, mode, interleave)


# --- cp -----------------------------------------------------------------------------------

def cmd_cp(args: argparse.Namespace) -> int:
    if len(args.paths) < 2:
        raise UsageError("cp: SRC and DEST are required")
    *sources, dest = args.paths
    target = require_target(dest)
    interleave = _interleave(args)
    mode = None if args.mode is None else args.mode & ~umask()
    with Filesystem(target.device, writable=True) as fs:
        fs.check_master("copy files in")
        plan = plan_copy(fs, sources, target.relpath, args.recursive, mode)
        progress = Progress("cp", sum(f.size for f in plan.files))

        def on_file(item: CopyItem) -> None:
            progress.advance(item.size)
            if args.verbose:
                print(f"{item.source} -> {target.device}:{item.relpath}", flush=True)

        result: CopyResult = run_copy(fs, plan, args.uid, args.gid, interleave,
                                      compare=args.compare, on_file=on_file,
                                      threads=args.threadct or 1)
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
            raise UsageError(f"{name}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{name}: not a famfs path or a regular file")
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
        raise UsageError("-m cannot be combined with -S or -f")
    jobs: list[tuple[str, int]] = []
    if args.multi:
        for text in args.multi:
            name, sep, seed_text = text.rpartition(",")
            try:
                seed = int(seed_text, 0)
            except ValueError:
                seed = -1
            if not sep or not name or seed < 0:
                raise UsageError(f"-m {text!r}: expected FILE,SEED")
            jobs.append((name, seed))
    else:
        if not args.file:
            raise UsageError("verify: a file (-f FILE) is required")
        if args.seed is None:
            raise UsageError("verify: a seed (-S SEED) is required")
        jobs.append((args.file, args.seed))
    failed: list[int] = []

    def verify(job: tuple[str, int], opened: OpenedFilesystems) -> None:
        name, seed = job
        try:
            failed.append(_verify_one(name, seed, args.quiet, opened))
        except FamfsError as exc:
            if not args.multi:
                raise
            _warn("verify", f"{name}: {exc}")
            failed.append(1)

    with OpenedFilesystems(writable=False) as opened:
        run_each(lambda job: verify(job, opened), jobs, args.threadct or 1)
    errors = sum(failed)
    if args.multi:
        print(f"Verify complete for {len(jobs)} files with {errors} errs")
    return 1 if errors else 0


# --- registration -------------------------------------------------------------------------

class _RepeatableOptionParser(argparse.ArgumentParser):
    """An argparse parser that collects one repeatable option (`repeat_flags`, stored in
    `multi`) in a single linear pass: argparse's own handling of N repeated options costs
    O(N^2), which is seconds for the 10,000 `-M` of one `creat`."""

    repeat_flags: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        argv = list(sys.argv[1:] if args is None else args)
        values: list[str] = []
        rest: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                rest.extend(argv[i:])
                break
            long_flag = next((f for f in self.repeat_flags if f.startswith("--")), None)
            if arg in self.repeat_flags and i + 1 < len(argv):
                values.append(argv[i + 1])
                i += 2
                continue
            if long_flag and arg.startswith(long_flag + "="):
                values.append(arg[len(long_flag) + 1:])
            elif any(len(f) == 2 and arg.startswith(f) and len(arg) > 2
                     for f in self.repeat_flags):
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
    p = subparsers.add_parser("creat", help="allocate and log files (optionally randomized)")
    p.add_argument("-s", "--size", type=size_arg, help="file size (k/m/g suffixes)")
    p.add_argument("-S", "--seed", type=int_arg, help="seed of the verify pattern (needs -r)")
    p.add_argument("-r", "--randomize", action="store_true",
                   help="fill the file with the verify pattern of -S SEED")
    p.add_argument("-m", "--mode", type=mode_arg, help="octal mode (default 0644, less umask)")
    p.add_argument("-u", "--uid", type=id_arg, default=os.geteuid())
    p.add_argument("-g", "--gid", type=id_arg, default=os.getegid())
    p.add_argument("-M", "--multi", action="append", metavar="NAME,SIZE[,SEED]",
                   help="create many files in one call (repeatable)")
    p.add_argument("-t", "--threadct", type=count_arg,
                   help="threads filling the -M files that have a seed (default 1)")
    p.add_argument("-v", "--verbose", action="store_true")
    _add_interleave_args(p)
    p.add_argument("file", nargs="?", metavar="FILE")
    p.set_defaults(func=cmd_creat)
    _repeatable(p, "-M", "--multi")

    p = subparsers.add_parser(
        "cp", help="copy local files into famfs",
        description="Copy regular files into famfs: each is allocated and logged at its size, "
                    "then its data is copied in. With several sources or -r, DEST is a "
                    "directory; with -r the contents of each SRC directory go into DEST "
                    "(made if missing). A destination file of the same size is overwritten, "
                    "so an interrupted copy can be rerun. Empty files, devices and "
                    "directories without -r are skipped with an error; the rest is copied.")
    p.add_argument("-r", "--recursive", action="store_true")
    p.add_argument("-t", "--threadct", type=count_arg, help="threads copying file data")
    p.add_argument("-m", "--mode", type=mode_arg,
                   help="octal mode (default: each source's permission bits)")
    p.add_argument("-u", "--uid", type=id_arg, default=os.getuid())
    p.add_argument("-g", "--gid", type=id_arg, default=os.getgid())
    p.add_argument("-c", "--compare", action="store_true", help="compare after copying")
    p.add_argument("-v", "--verbose", action="store_true")
    _add_interleave_args(p)
    p.add_argument("paths", nargs="+", metavar="SRC", help="sources, then DEST (last)")
    p.set_defaults(func=cmd_cp)

    p = subparsers.add_parser("verify", help="check a file against the verify pattern")
    p.add_argument("-S", "--seed", type=int_arg)
    p.add_argument("-f", "--filename", dest="file", metavar="FILE")
    p.add_argument("-m", "--multi", action="append", metavar="FILE,SEED",
                   help="verify several files (repeatable)")
    p.add_argument("-t", "--threadct", type=count_arg,
                   help="threads verifying the -m files (default 1)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_verify)
    _repeatable(p, "-m", "--multi")
