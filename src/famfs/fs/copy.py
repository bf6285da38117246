"""Copying regular files from anywhere into a famfs (`famfs cp`).

A copy is planned first (which sources become which famfs paths; what is skipped and why),
then carried out: directories are logged, then the files go a batch at a time, data before
metadata: the batch's space is reserved under the device's append lock (so concurrent copies
never hand out the same space), the data is read straight into the device mapping, and only
then are the files that were copied whole logged, in one append. An interrupted copy leaves
no listed file with incomplete data; running it again copies what is missing and overwrites
files already there (same path, same size).

Directory sources (with `recursive`) follow the reference: the *contents* of SRC are copied
into DEST (created if missing), each subdirectory becoming DEST/NAME.

Where a file's bytes lie on the devices is the mapping layer's to say: `run_copy` is given a
`RunsOf` (famfs.mapping.files.file_runs) and moves bytes into the runs it returns: a short run
of an image file with pwrite(2) (no page of the mapping is touched, so none faults in), any
other straight into the device mapping.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from famfs.alloc import InterleaveParams
from famfs.device import Device
from famfs.errors import (
    FamfsError,
    LogFullError,
    MissingDeviceError,
    NoSpaceError,
    NotFoundError,
    PathError,
    UsageError,
)
from famfs.fs.filesystem import Filesystem, NewFile, Reservation
from famfs.fs.namespace import Directory, File
from famfs.omf.log import check_relpath

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

READ_CHUNK = 8 * 1024 * 1024
"""Largest read(2) into the mapping at once (bytes)."""
SHORT_RUN = 256 * 1024
"""Runs of image files up to this many bytes are read into memory and written with pwrite(2):
cheaper than faulting the mapping's pages in one by one. Longer runs, and runs of DAX devices,
are read straight into the mapping."""
DIRECTORY_MODE = 0o755
"""Mode of a destination directory that `cp -r` has to make; directories copied from the
source keep the source's permission bits (-m applies to files only)."""


class CopyItem(NamedTuple):
    """One regular file to copy: local `source`, famfs `relpath`, `size` and `mode`."""

    source: str
    relpath: str
    size: int
    mode: int


@dataclass
class CopyPlan:
    """What a copy will do: directories to log (parents first), files, and what was skipped
    (one message per skipped source, naming it and saying why)."""

    directories: list[tuple[str, int]] = field(default_factory=list)
    files: list[CopyItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class CopyResult:
    copied: list[CopyItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _perm(st: os.stat_result) -> int:
    return stat.S_IMODE(st.st_mode)


def _file_item(plan: CopyPlan, source: str, st: os.stat_result, relpath: str,
               mode: int | None) -> None:
    if st.st_size == 0:
        plan.errors.append(f"{source}: empty file skipped (famfs files cannot be empty)")
        return
    try:
        check_relpath(relpath)
    except PathError as exc:
        plan.errors.append(f"{source}: skipped: {exc}")
        return
    plan.files.append(CopyItem(source, relpath, st.st_size, _perm(st) if mode is None else mode))


def _not_regular(source: str) -> str:
    return f"{source}: not a regular file (device, fifo, socket or broken link); skipped"


def _walk(plan: CopyPlan, source_dir: str, dest: str, mode: int | None) -> None:
    """Plan the contents of local directory `source_dir` into famfs directory `dest`. Each
    directory is listed through a descriptor of its own, so its entries are looked at by
    name within it (fstatat), not by walking their whole paths again."""
    stack = [(source_dir, dest)]
    while stack:
        src, dst = stack.pop()
        try:
            dir_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            plan.errors.append(f"{src}: cannot read directory: {exc.strerror}")
            continue
        try:
            with os.scandir(dir_fd) as it:
                entries = sorted(it, key=lambda e: e.name)
            prefix = src if src.endswith("/") else src + "/"
            subdirs = []
            for entry in entries:
                name = entry.name
                rel = f"{dst}/{name}" if dst else name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append((entry, rel))
                        continue
                    st = entry.stat(follow_symlinks=True)
                except OSError as exc:
                    plan.errors.append(f"{prefix}{name}: cannot stat: {exc.strerror}")
                    continue
                if stat.S_ISREG(st.st_mode):
                    _file_item(plan, prefix + name, st, rel, mode)
                elif stat.S_ISDIR(st.st_mode):
                    plan.errors.append(f"{prefix}{name}: symbolic link to a directory; skipped")
                else:
                    plan.errors.append(_not_regular(prefix + name))
            for entry, rel in reversed(subdirs):
                path = prefix + entry.name
                try:
                    check_relpath(rel)
                    st = entry.stat(follow_symlinks=False)
                except PathError as exc:
                    plan.errors.append(f"{path}: directory skipped with its contents: {exc}")
                    continue
                except OSError as exc:
                    plan.errors.append(f"{path}: cannot stat: {exc.strerror}")
                    continue
                plan.directories.append((rel, _perm(st)))
                stack.append((path, rel))
        except OSError as exc:
            plan.errors.append(f"{src}: cannot read directory: {exc.strerror}")
        finally:
            os.close(dir_fd)


def plan_copy(fs: Filesystem, sources: list[str], dest: str, recursive: bool,
              mode: int | None = None) -> CopyPlan:
    """Plan copying local `sources` to famfs path `dest` ('' is the root).

    With several sources or `recursive`, `dest` must be a directory (with `recursive` it is
    created if missing). With one file source, `dest` may be a directory (the file keeps its
    name) or a file path. `mode` None keeps each source's permission bits. Raises UsageError
    (or PathError) only for a destination that cannot work at all; every per-source problem
    is recorded in the plan's errors and the rest still goes ahead.
    """
    plan = CopyPlan()
    node = fs.namespace.find(dest)
    if dest and node is None:
        try:
            fs.namespace.lookup(dest)
        except PathError as exc:
            raise PathError(f"destination: {exc}") from None
        except FamfsError:
            pass
    into_dir = isinstance(node, Directory) or len(sources) > 1 or recursive
    if into_dir and isinstance(node, File):
        raise UsageError(f"destination {dest} exists and is not a directory")
    if into_dir and node is None:
        if not recursive:
            raise UsageError(f"destination directory {dest} does not exist")
        check_relpath(dest)
        parent = dest.rpartition("/")[0]
        if parent and not isinstance(fs.namespace.find(parent), Directory):
            raise NotFoundError(f"destination {dest}: parent directory {parent} does not exist")
        plan.directories.append((dest, DIRECTORY_MODE))
    for source in sources:
        try:
            st = os.stat(source)
        except OSError as exc:
            plan.errors.append(f"{source}: cannot stat: {exc.strerror}")
            continue
        if stat.S_ISDIR(st.st_mode):
            if not recursive:
                plan.errors.append(f"{source}: is a directory; -r not specified; omitted")
                continue
            _walk(plan, source, dest, mode)
        elif stat.S_ISREG(st.st_mode):
            name = os.path.basename(source.rstrip("/"))
            _file_item(plan, source, st, join(dest, name) if into_dir else dest, mode)
        else:
            plan.errors.append(_not_regular(source))
    return plan


Pieces = Sequence[tuple[int, memoryview]]
"""(file offset, device view) runs of a famfs file, in file order."""
Runs = Sequence[tuple[int, Device, int, int]]
"""(file offset, device, device offset, bytes) runs of a famfs file, in file order."""
RunsOf = Callable[[Filesystem, File], Runs]
"""Where the bytes of a logged file lie: its runs on the devices."""


def pieces_of_runs(runs: Runs) -> list[tuple[int, memoryview]]:
    """The (file offset, device view) pieces of `runs`."""
    return [(off, device.buf[addr:addr + n]) for off, device, addr, n in runs]


def copy_data(runs: Runs, node: File, source: str) -> None:
    """Read local file `source` into famfs file `node`, whose runs are `runs`: a short run of
    an image file with pwrite (a full backing store is an error, never a fault), others
    straight into the device mapping (the kernel writes the mapping, so a fault is an error
    return, not a signal). Raises OSError, or FamfsError if the source is shorter than the
    file. The caller flushes."""
    fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for off, device, addr, n in runs:
            if n <= SHORT_RUN and not device.is_dax:
                data = os.read(fd, n)
                while len(data) < n:
                    more = os.read(fd, n - len(data))
                    if not more:
                        raise FamfsError(f"{source}: ended at {off + len(data)} bytes; it was "
                                         f"{node.size} bytes when the copy began")
                    data += more
                try:
                    if os.pwrite(device.fd, data, addr) == n:
                        continue
                except OSError:
                    pass
                device.pwrite(addr, data)  # the rest, or the error (DeviceError)
                continue
            view = device.buf[addr:addr + n]
            got = 0
            while got < n:
                count = os.readv(fd, [view[got:got + READ_CHUNK]])
                if not count:
                    raise FamfsError(f"{source}: ended at {off + got} bytes; it was "
                                     f"{node.size} bytes when the copy began")
                got += count
    finally:
        os.close(fd)


def compare_data(pieces: Pieces, node: File, source: str) -> int | None:
    """File offset of the first byte where famfs file `node` (runs `pieces`) differs from
    local `source` (or where the source ends early), or None if they are equal."""
    scratch = bytearray(min(node.size, READ_CHUNK))
    with open(source, "rb", buffering=0) as fh:
        for off, view in pieces:
            done = 0
            while done < len(view):
                want = min(len(scratch), len(view) - done)
                n = fh.readinto(memoryview(scratch)[:want])
                if not n:
                    return off + done
                have = view[done:done + n]
                if have != memoryview(scratch)[:n]:
                    for i in range(n):
                        if have[i] != scratch[i]:
                            return off + done + i
                done += n
        if fh.read(1):
            return node.size
    return None


def _make_directories(fs: Filesystem, plan: CopyPlan, uid: int, gid: int,
                      errors: list[str]) -> set[str]:
    """Log the plan's directories; return those that could not be made (or are files)."""
    blocked: set[str] = set()
    for rel, mode in plan.directories:
        if any(rel.startswith(b + "/") for b in blocked):
            blocked.add(rel)
            continue
        node = fs.namespace.find(rel)
        if isinstance(node, Directory):
            continue
        if node is not None:
            errors.append(f"{rel}: exists and is not a directory; its contents are skipped")
            blocked.add(rel)
            continue
        try:
            fs.mkdir(rel, parents=True, mode=mode, uid=uid, gid=gid)
        except FamfsError as exc:
            errors.append(f"{rel}: cannot make directory: {exc}")
            blocked.add(rel)
    return blocked


def _under(rel: str, blocked: set[str]) -> bool:
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    while parent:
        if parent in blocked:
            return True
        parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
    return False


BATCH_FILES = 1000
"""Most files one reservation (and one log append) takes: other creators wait for the log lock
only while a batch is reserved and while it is logged, never while its data is copied."""
BATCH_BYTES = 64 << 20
"""Most file bytes one batch takes (a bigger file is a batch of its own), so the space a copy
holds unlogged, and what a kill throws away, stay bounded."""


def _batches(items: list[CopyItem]) -> Iterator[list[CopyItem]]:
    batch: list[CopyItem] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= BATCH_FILES or size + item.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def reserve_items(fs: Filesystem, items: list[CopyItem], uid: int, gid: int,
                  interleave: InterleaveParams | None, errors: list[str],
                  device: int | None = None) -> list[tuple[list[CopyItem], Reservation]]:
    """Reserve space for `items`: one reservation for all of them, or, if that fails (one bad
    item), one per item, so every good item is still made and every bad one reported; running
    out of space or log slots (or a missing device) stops there."""
    specs = [NewFile(i.relpath, i.size, i.mode, uid, gid, interleave, device) for i in items]
    try:
        return [(items, fs.reserve(specs))]
    except FamfsError as exc:
        if len(items) == 1:
            errors.append(f"{items[0].source}: {exc}")
            return []
    out = []
    for item, spec in zip(items, specs, strict=True):
        try:
            out.append(([item], fs.reserve([spec])))
        except (NoSpaceError, LogFullError, MissingDeviceError) as exc:
            errors.append(f"{item.source}: {exc}; copy stopped")
            break
        except FamfsError as exc:
            errors.append(f"{item.source}: {exc}")
    return out


def _prefilter(fs: Filesystem, plan: CopyPlan, blocked: set[str],
               errors: list[str]) -> list[CopyItem]:
    todo = []
    fs.namespace.prefetch([item.relpath for item in plan.files])
    for item in plan.files:
        if blocked and _under(item.relpath, blocked):
            errors.append(f"{item.source}: skipped: destination directory could not be made")
            continue
        node = fs.namespace.find(item.relpath)
        if isinstance(node, Directory):
            errors.append(f"{item.source}: destination {item.relpath} is a directory")
            continue
        if isinstance(node, File) and node.size != item.size:
            errors.append(f"{item.source}: destination {item.relpath} exists with size "
                          f"{node.size}, not {item.size}; not overwritten")
            continue
        todo.append(item)
    return todo


def _copy_one(fs: Filesystem, item: CopyItem, node: File, compare: bool,
              runs_of: RunsOf) -> str | None:
    """Copy (and compare) one file; the error message, or None."""
    try:
        runs = runs_of(fs, node)
        copy_data(runs, node, item.source)
        if compare:
            bad = compare_data(pieces_of_runs(runs), node, item.source)
            if bad is not None:
                return f"{item.relpath} differs from {item.source} at offset {bad}"
    except FamfsError as exc:
        return str(exc)
    except OSError as exc:
        return f"{item.source}: {exc.strerror or exc}"
    return None


def run_copy(fs: Filesystem, plan: CopyPlan, uid: int, gid: int, *, runs_of: RunsOf,
             interleave: InterleaveParams | None = None, compare: bool = False,
             on_file: Callable[[CopyItem], None] | None = None,
             threads: int = 1, device: int | None = None) -> CopyResult:
    """Carry out `plan` on `fs` (opened writable, master only: RoleError otherwise, before
    anything changes). Per-file problems are collected in the result; the rest is copied.
    `runs_of` says where a file's bytes lie; `device`, if given, is the device every
    contiguous file goes on.

    Data before metadata, a batch at a time: the batch's space is reserved, its files' bytes
    are copied in, and only the files copied completely are logged. A copy killed at any
    moment leaves every listed file complete. With `threads` > 1, file data is copied by that
    many threads (reads release the GIL)."""
    fs.check_master("copy files in")
    result = CopyResult(errors=list(plan.errors))
    blocked = _make_directories(fs, plan, uid, gid, result.errors)
    todo = _prefilter(fs, plan, blocked, result.errors)
    pool: ThreadPoolExecutor | None = None
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor  # about 7 ms to import

        pool = ThreadPoolExecutor(max_workers=threads)
    try:
        for batch in _batches(todo):
            for items, reservation in reserve_items(fs, batch, uid, gid, interleave,
                                                    result.errors, device):
                with reservation:
                    _copy_batch(fs, items, reservation, compare, pool, result, on_file,
                                runs_of)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return result


def _copy_batch(fs: Filesystem, items: list[CopyItem], reservation: Reservation,
                compare: bool, pool: ThreadPoolExecutor | None, result: CopyResult,
                on_file: Callable[[CopyItem], None] | None, runs_of: RunsOf) -> None:
    """Copy the data of one reserved batch, then log the files that were copied whole."""
    pairs = list(zip(items, reservation.files, strict=True))

    def one(pair: tuple[CopyItem, File]) -> str | None:
        return _copy_one(fs, pair[0], pair[1], compare, runs_of)

    outcomes: Iterable[str | None]
    outcomes = list(pool.map(one, pairs)) if pool is not None and len(pairs) > 1 \
        else [_copy_one(fs, item, node, compare, runs_of) for item, node in pairs]
    good: list[CopyItem] = []
    overwritten: list[File] = []
    for (item, node), error in zip(pairs, outcomes, strict=True):
        if error is not None:
            result.errors.append(error)
            reservation.discard(node)
            continue
        if node.index is not None:
            overwritten.append(node)
        good.append(item)
    fs.flush_files(overwritten)
    reservation.commit()
    failed = {node.relpath: exc for node, exc in reservation.errors}
    for item in good:
        if item.relpath in failed:
            result.errors.append(f"{item.source}: {failed[item.relpath]}")
            continue
        result.copied.append(item)
        if on_file is not None:
            on_file(item)
