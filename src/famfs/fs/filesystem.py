"""A famfs filesystem on one device: replay, checks, and the master's append operations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from famfs.alloc import MIN_BUCKET_SIZE, Allocator, Collision, InterleaveParams
from famfs.device import Device
from famfs.errors import (
    CorruptError,
    DeviceError,
    ExistsError,
    FamfsError,
    IsDirectoryError,
    LogFullError,
    NotDirectoryError,
    NotFoundError,
    PathError,
    RoleError,
    UsageError,
)
from famfs.fs.namespace import Directory, File, Namespace, Node
from famfs.fs.roles import system_uuid
from famfs.log import MetadataLog
from famfs.omf.fmap import FileMap, Segment, check_fmap
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RW, MAX_ALLOC_UNITS, MAX_DEVICES, data_start
from famfs.omf.log import AddDaxdevEntry, FileEntry, LogEntry, MkdirEntry, Payload, check_relpath
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock


@dataclass(frozen=True)
class NewFile:
    """One file for `Filesystem.create_files`: path, size in bytes, and its attributes."""

    relpath: str
    size: int
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    interleave: InterleaveParams | None = None


@dataclass(frozen=True)
class ReplayStats:
    entries: int
    new_files: int
    new_directories: int


class Filesystem:
    """The famfs on `path`, replayed from its log.

    Opening checks the superblock and log header and replays every valid entry; a bad entry
    raises CorruptError naming it, and nothing past it is applied. `refresh()` replays entries
    appended since (by this or another process or host).
    """

    def __init__(self, path: str, writable: bool = False) -> None:
        self.device = Device(path, writable)
        try:
            self.sb = Superblock.decode(self.device.buf[:SUPERBLOCK_SIZE], self.device.size)
            self.log = MetadataLog(self.device, self.sb)
            self.namespace = Namespace()
            self.allocator = Allocator(self.sb.device_size, self.sb.log_len, self.sb.alloc_unit)
            self.data_start = data_start(self.sb.log_len)
            # Extents are checked against the smaller of the recorded and actual size, so no
            # entry can make us touch memory past the end of the device.
            self.device_sizes: dict[int, int] = {0: min(self.sb.device_size, self.device.size)}
            self.applied = 0
            self.refresh()
        except CorruptError as exc:
            with contextlib.suppress(DeviceError):
                self.device.close()
            raise exc.on_device(path) from None
        except BaseException:
            # A failed check's traceback may still hold views into the mapping; the mapping
            # then goes when they do, and the check's error is the one to report.
            with contextlib.suppress(DeviceError):
                self.device.close()
            raise

    @property
    def path(self) -> str:
        return self.device.path

    def close(self) -> None:
        self.device.close()

    def __enter__(self) -> Filesystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- replay -------------------------------------------------------------------------

    def refresh(self) -> ReplayStats:
        """Replay log entries appended since the last replay. Idempotent."""
        head = self.log.header()
        files, dirs = self.namespace.files, self.namespace.directories
        start = self.applied
        for entry in self.log.entries(start, head.next_index):
            self._apply(entry, mark=True)
        return ReplayStats(head.next_index - start, self.namespace.files - files,
                           self.namespace.directories - dirs)

    def _apply(self, entry: LogEntry, mark: bool) -> Node | None:
        index, payload = entry.seqnum, entry.payload
        if isinstance(payload, FileEntry):
            check_fmap(payload.fmap, payload.size, index, self.sb.alloc_unit, self.device_sizes,
                       self.data_start)
            if mark:
                self.allocator.mark(payload.fmap, index)
            node = self.namespace.apply(index, payload)
        elif isinstance(payload, MkdirEntry):
            node = self.namespace.apply(index, payload)
        else:
            self._add_device(index, payload)
            node = None
        self.applied = index + 1
        return node

    def _add_device(self, index: int, dev: AddDaxdevEntry) -> None:
        if not 0 < dev.index < MAX_DEVICES:
            raise CorruptError("log entry", "dd_index",
                               f"device index {dev.index} is not in 1..{MAX_DEVICES - 1}", index)
        if dev.index in self.device_sizes:
            raise CorruptError("log entry", "dd_index",
                               f"device index {dev.index} was added already", index)
        if dev.size < self.sb.alloc_unit:
            raise CorruptError("log entry", "dd_size", f"{dev.size:#x} bytes is too small", index)
        if dev.size // self.sb.alloc_unit > MAX_ALLOC_UNITS:
            raise CorruptError("log entry", "dd_size",
                               f"{dev.size:#x} bytes is more than {MAX_ALLOC_UNITS} allocation "
                               f"units", index)
        self.device_sizes[dev.index] = dev.size
        self.allocator.add_device(dev.index, dev.size)

    # --- roles --------------------------------------------------------------------------

    def is_master(self) -> bool:
        """Whether this host's system UUID is the one in the superblock."""
        return system_uuid() == self.sb.system_uuid

    def check_master(self, what: str) -> None:
        """RoleError unless this host is the master (the only host that may `what`, e.g.
        'create files'); UsageError if the device was opened read-only."""
        me = system_uuid()
        if me != self.sb.system_uuid:
            raise RoleError(f"this host ({me}) is a client of the famfs on {self.path}; only "
                            f"its master ({self.sb.system_uuid}) may {what}")
        if not self.device.writable:
            raise UsageError(f"{self.path} was opened read-only; cannot {what}")

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, relpath: str) -> Node:
        return self.namespace.lookup(relpath)

    def file(self, relpath: str) -> File:
        node = self.namespace.lookup(relpath)
        if not isinstance(node, File):
            raise IsDirectoryError(f"{relpath or '/'}: is a directory, not a file")
        return node

    # --- appends (master only) ----------------------------------------------------------

    def create_files(self, specs: Sequence[NewFile]) -> list[File]:
        """Allocate and log `specs` in one append. A spec whose path is a file of the same size
        already yields that file (no new entry); a different size or a directory is an error.
        Errors are raised before anything is written; nothing is half-logged."""
        self.check_master("create files")
        with self.device.append_lock():
            self.refresh()
            head = self.log.header()
            result: list[File | None] = []
            pending: list[tuple[int, NewFile]] = []
            seen: set[str] = set()
            for spec in specs:
                check_relpath(spec.relpath)
                if spec.size <= 0:
                    raise UsageError(f"{spec.relpath}: size {spec.size} must be positive")
                if spec.interleave is not None:
                    spec.interleave.check(self.sb.device_size, self.sb.alloc_unit,
                                          min_bucket=self.min_bucket_size())
                existing = self.namespace.find(spec.relpath)
                if existing is not None:
                    if not isinstance(existing, File):
                        raise ExistsError(f"{spec.relpath}: exists and is a directory")
                    if existing.size != spec.size:
                        raise ExistsError(f"{spec.relpath}: exists with size {existing.size}, "
                                          f"not {spec.size}")
                    result.append(existing)
                    continue
                if spec.relpath in seen:
                    raise ExistsError(f"{spec.relpath}: named twice")
                seen.add(spec.relpath)
                self._check_parent(spec.relpath, seen)
                pending.append((len(result), spec))
                result.append(None)
            if head.next_index + len(pending) > head.slots:
                raise LogFullError(f"log full: {head.next_index} of {head.slots} slots used, "
                                   f"{len(pending)} more needed")
            checkpoint = self.allocator.checkpoint()
            payloads: list[Payload] = []
            try:
                for _, spec in pending:
                    fmap = self._allocate(spec)
                    payloads.append(FileEntry(spec.relpath, spec.size, fmap, spec.mode,
                                              spec.uid, spec.gid, FILE_FLAG_ALL_HOSTS_RW))
            except FamfsError:
                self.allocator.rollback(checkpoint)
                raise
            if payloads:
                first = self.log.append(payloads)
                for i, payload in enumerate(payloads):
                    node = self._apply(LogEntry(first + i, payload), mark=False)
                    assert isinstance(node, File)
                    result[pending[i][0]] = node
            return [node for node in result if node is not None]

    def min_bucket_size(self) -> int:
        """Smallest interleave bucket allowed: the reference's 1 GiB, or less on an image too
        small to hold such buckets (small images are allowed on purpose)."""
        return min(MIN_BUCKET_SIZE, self.sb.device_size // 64)

    def _allocate(self, spec: NewFile) -> FileMap:
        if spec.interleave is not None:
            return self.allocator.alloc_interleaved(spec.size, spec.interleave)
        return self.allocator.alloc_contiguous(spec.size)

    def _check_parent(self, relpath: str, pending_paths: set[str]) -> None:
        if "/" not in relpath:
            return
        parent = relpath.rsplit("/", 1)[0]
        node = self.namespace.find(parent)
        if node is None:
            try:
                self.namespace.lookup(parent)
            except PathError as exc:
                raise PathError(f"{relpath}: {exc}") from None
            except NotFoundError:
                raise NotFoundError(f"{relpath}: parent directory {parent} does not "
                                    f"exist") from None
        if not isinstance(node, Directory):
            raise NotDirectoryError(f"{relpath}: {parent} is a file, not a directory")

    def create_file(self, relpath: str, size: int, mode: int = 0o644, uid: int = 0,
                    gid: int = 0, interleave: InterleaveParams | None = None) -> File:
        """Allocate and log one file of exactly `size` bytes (see create_files)."""
        return self.create_files([NewFile(relpath, size, mode, uid, gid, interleave)])[0]

    def mkdir(self, relpath: str, parents: bool = False, mode: int = 0o755, uid: int = 0,
              gid: int = 0) -> Directory:
        """Log a directory. Without `parents`, an existing target or missing parent fails;
        with it, missing parents are created and existing directories accepted."""
        self.check_master("make directories")
        relpath = relpath.strip("/")
        check_relpath(relpath)
        with self.device.append_lock():
            self.refresh()
            parts = relpath.split("/")
            todo: list[str] = []
            for depth in range(1, len(parts) + 1):
                sub = "/".join(parts[:depth])
                node = self.namespace.find(sub)
                if node is None:
                    if depth < len(parts) and not parents:
                        raise NotFoundError(f"{relpath}: parent directory {sub} does not exist")
                    todo.append(sub)
                elif not isinstance(node, Directory):
                    raise NotDirectoryError(f"{relpath}: {sub} is a file, not a directory")
                elif depth == len(parts) and not parents:
                    raise ExistsError(f"{relpath}: exists already")
            if todo:
                payloads: list[Payload] = [MkdirEntry(p, mode, uid, gid) for p in todo]
                first = self.log.append(payloads)
                for i, payload in enumerate(payloads):
                    self._apply(LogEntry(first + i, payload), mark=False)
            node = self.namespace.lookup(relpath)
            assert isinstance(node, Directory)
            return node

    def clone(self, src: str, dst: str) -> File:
        """Log `dst` with the same extents as `src`: a deliberate cross-link (for testing
        fsck)."""
        self.check_master("clone files")
        with self.device.append_lock():
            self.refresh()
            source = self.file(src)
            check_relpath(dst)
            self.namespace.check_new(dst)
            payload = FileEntry(dst, source.size, source.entry.fmap, source.mode, source.uid,
                                source.gid, source.entry.flags)
            first = self.log.append([payload])
            node = self._apply(LogEntry(first, payload), mark=True)
            assert isinstance(node, File)
            return node

    # --- file data ----------------------------------------------------------------------

    def segments(self, node: File, offset: int = 0, length: int | None = None) -> Iterator[Segment]:
        """Device runs of file bytes [offset, offset + length), clipped to the file size."""
        end = node.size if length is None else min(node.size, offset + length)
        if offset >= end:
            return
        for seg in node.entry.fmap.segments(offset, end - offset):
            if seg.devindex != 0:
                raise FamfsError(f"{node.relpath}: device {seg.devindex} is not open here")
            yield seg

    def read(self, node: File, offset: int, length: int) -> bytes:
        """Up to `length` bytes of `node` from `offset` (short at end of file)."""
        buf = self.device.buf
        return b"".join(bytes(buf[s.dev_offset:s.dev_offset + s.length])
                        for s in self.segments(node, offset, length))

    def write(self, node: File, offset: int, data: bytes | memoryview) -> int:
        """Write `data` at `offset`, clipped to the file size; return bytes written."""
        view = memoryview(data).cast("B")
        done = 0
        buf = self.device.buf
        if not self.device.writable:
            raise UsageError(f"{node.relpath}: {self.path} was opened read-only")
        for s in self.segments(node, offset, len(view)):
            buf[s.dev_offset:s.dev_offset + s.length] = view[done:done + s.length]
            done += s.length
        return done

    def flush_file(self, node: File) -> None:
        """msync every extent of `node`: durable and visible to other hosts."""
        for ext in node.entry.fmap.all_extents():
            if ext.devindex == 0:
                self.device.flush(ext.offset, ext.length)

    # --- checks -------------------------------------------------------------------------

    @property
    def collisions(self) -> list[Collision]:
        return self.allocator.collisions
