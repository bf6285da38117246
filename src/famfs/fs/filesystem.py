"""A famfs filesystem: replay, checks, and the master's append operations.

A filesystem is opened by its primary device (superblock and log); the log may add secondary
devices (famfs.fs.devices), each with its own space map and space holds. Where a new file goes
is the allocation policy: a contiguous file on one device, chosen at random with the others
tried in random order when it has no room (or the device the caller names); an interleaved file
with one strip on each of `nstrips` distinct devices, in random order. On a single device,
interleaved files are bucketed as the reference does.

Files are created data before metadata. `reserve` takes space for new files under the log lock
and holds it (famfs.holds) for this process; the caller writes the files' bytes into their
extents; `Reservation.commit` makes the bytes durable and only then appends the log entries,
each fully validated first. A process killed at any point before the append leaves no entry and
no held space; a kill during the append leaves either every entry of the batch or none (the log
header's counters move in one store). `create_files` reserves and logs at once, for files whose
contents the caller does not write.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from famfs.alloc import MIN_BUCKET_SIZE, Allocator, Collision, InterleaveParams, SpaceMap
from famfs.device import Device
from famfs.errors import (
    CorruptError,
    DeviceError,
    ExistsError,
    FamfsError,
    IsDirectoryError,
    LogFullError,
    NoSpaceError,
    NotDirectoryError,
    NotFoundError,
    PathError,
    RoleError,
    UsageError,
)
from famfs.fs import index as log_index
from famfs.fs.devices import DeviceTable
from famfs.fs.namespace import Directory, File, Namespace, Node
from famfs.fs.roles import system_uuid
from famfs.holds import DeviceHolds
from famfs.log import MetadataLog
from famfs.omf.fmap import ExtentType, FileMap, SimpleExtent, check_fmap, plainly_valid
from famfs.omf.layout import (
    FILE_FLAG_ALL_HOSTS_RW,
    LOG_ENTRY_SIZE,
    MAX_ALLOC_UNITS,
    MAX_DEVICES,
    MAX_SIMPLE_EXTENTS,
    META_DIR,
    data_start,
    round_up,
)
from famfs.omf.log import (
    AddDaxdevEntry,
    EntryType,
    FileEntry,
    LogEntry,
    MkdirEntry,
    Payload,
    check_relpath,
    decode_entries,
    decode_entry,
    entry_offset,
    regular_extents,
)
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock

BULK_REPLAY = 64
"""Replays of at least this many entries decode and check them in bulk."""
INDEX_AT_OPEN = 4096
"""An open that replayed at least this many entries past the index writes it at once (a
process may never close its filesystem); others write it on close."""


@dataclass(frozen=True)
class NewFile:
    """One file to create: path, size in bytes, and its attributes."""

    relpath: str
    size: int
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    interleave: InterleaveParams | None = None
    device: int | None = None
    """The device index a contiguous file must go on (None: the allocation policy's choice)."""


@dataclass(frozen=True)
class ReplayStats:
    entries: int
    new_files: int
    new_directories: int


class Placed(NamedTuple):
    """The pending files of a reservation as columns, when each is one simple extent on one
    device: row i is pending file i (int64 arrays, bytes). The files' entries say the same;
    the columns let a batch's runs be worked out without walking its entries."""

    device: int
    offsets: np.ndarray
    lengths: np.ndarray
    sizes: np.ndarray

    def held_runs(self) -> list[tuple[int, int, int]]:
        """(device, offset, bytes) of the extents, sorted, touching ones merged (`_merged`)."""
        return _merged_columns(np.full(len(self.offsets), self.device, dtype=np.int64),
                               self.offsets, self.offsets + self.lengths)

    def used_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends): device offsets of the bytes the files hold (`used_runs`; empty
        files have none)."""
        used = np.minimum(self.lengths, self.sizes)
        keep = used > 0
        starts = self.offsets[keep]
        return starts, starts + used[keep]

    def used_pages(self, page: int) -> list[tuple[int, int, int]]:
        """(device, offset, bytes) of the pages that hold the files' bytes (`_page_runs` of
        their `used_runs`)."""
        starts, ends = self.used_spans()
        return _page_columns(np.full(len(starts), self.device, dtype=np.int64), starts, ends,
                             page)


@dataclass
class Reservation:
    """Files whose space this process holds and whose entries are not logged yet.

    `files` has one File per requested spec, in order: a file already logged at that path with
    that size (it gets no new entry), or a new File (index None) whose extents the caller fills
    before `commit`. `errors` collects the specs `commit` could not log, with the reason.
    Leaving a `with` block aborts whatever was not committed.
    """

    fs: Filesystem
    files: list[File]
    pending: list[File]
    held: list[tuple[int, int, int]] = field(default_factory=list)
    """(device index, device offset, bytes) runs held for the pending files, merged."""
    applied: int = 0
    """Log entries replayed when the space was reserved."""
    growing: bool = False
    """Its files grow as they are written (`Filesystem.grow`); commit trims their space."""
    errors: list[tuple[File, FamfsError]] = field(default_factory=list)
    done: bool = False
    placed: Placed | None = None
    """The pending files as columns (see Placed), while they are all there and unchanged in
    place; None otherwise."""

    def commit(self) -> list[File]:
        """Flush the new files' bytes, then log them (see Filesystem.commit)."""
        return self.fs.commit(self)

    def abort(self) -> None:
        """Give the held space back; nothing is logged."""
        self.fs.abort(self)

    def discard(self, node: File) -> None:
        """Leave new file `node` out (its bytes could not be written): it is not logged, and
        its space is free again at once."""
        if node in self.pending:
            self.pending.remove(node)
            self.files.remove(node)
            self.placed = None
            self.fs._release([(e.devindex, e.offset, e.length)
                              for e in node.entry.fmap.all_extents()])

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.abort()


_libc = ctypes.CDLL(None, use_errno=True)
_fallocate = _libc.fallocate
_fallocate.restype = ctypes.c_int
_fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


class Filesystem:
    """The famfs whose primary device is `path`, replayed from its log.

    Opening checks the superblock and log header and replays every valid entry; a bad entry
    raises CorruptError naming it, and nothing past it is applied. `refresh()` replays entries
    appended since (by this or another process or host). `problems` lists what is wrong with the
    filesystem as a whole (a device shorter than its superblock says); writes are refused then.
    `device_paths` says where secondary devices are on this host (index to path); the others
    are found by UUID when first needed (famfs.resolver).
    """

    def __init__(self, path: str, writable: bool = False,
                 device_paths: Mapping[int, str] | None = None) -> None:
        self.device = Device(path, writable)
        self.holds = DeviceHolds(path)
        """Space holds on the primary device (famfs.holds); `holds_on(i)` for device i."""
        self._holds: dict[int, DeviceHolds] = {0: self.holds}
        self.problems: list[str] = []
        try:
            self.sb = Superblock.decode(self.device.buf[:SUPERBLOCK_SIZE], self.device.size)
            self.log = MetadataLog(self.device, self.sb)
            self.namespace = Namespace(source=self.log)
            if self.device.size < self.sb.device_size:
                self.problems.append(
                    f"{path}: the device is {self.device.size} bytes, but its superblock "
                    f"records {self.sb.device_size}: it was truncated or is the wrong device")
            # Extents are checked against the smaller of the recorded and actual size, so no
            # entry can make us touch memory past the end of the device; the allocator works
            # within the same bound.
            usable = min(self.sb.device_size, self.device.size)
            self.allocator = Allocator(usable, self.sb.log_len, self.sb.alloc_unit)
            self.data_start = data_start(self.sb.log_len)
            self.device_sizes: dict[int, int] = {0: usable}
            self.devices = DeviceTable(self.device, self.sb, usable, device_paths)
            self.applied = 0
            self._indexed = 0
            """Entries covered by the index file as last read or written."""
            self.index_entries = 0
            """Entries whose replay came from the host-local index at open (0: none)."""
            self._index_crcs: np.ndarray | None = None
            """Stored CRCs of the entries the index covered, as checked when it was read."""
            self._replayed_sum = 0
            """64-bit sum of the bytes of entries [0, applied) as they were replayed."""
            head = self.log.header()
            if log_index.enabled(head.next_index):
                restored = log_index.load(self.device, self.sb, head)
                if restored is not None:
                    self._restore(restored)
            self.refresh()
            if self.applied - self._indexed >= INDEX_AT_OPEN:
                self.save_index()
        except CorruptError as exc:
            self._close_quietly()
            if self.problems and exc.field.startswith("fmap"):
                exc.with_message(f"{exc} ({self.problems[0]})")
            raise exc.on_device(path) from None
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        for holds in self._holds.values():
            holds.close()
        if hasattr(self, "devices"):
            self.devices.close()
        with contextlib.suppress(DeviceError):
            self.device.close()

    @property
    def path(self) -> str:
        return self.device.path

    def close(self) -> None:
        """Close the devices. Space still held by unfinished reservations is given back. The
        index of the log is brought up to date first (see famfs.fs.index)."""
        if self.device.fd >= 0 and self.applied > self._indexed:
            self.save_index()
        for holds in self._holds.values():
            holds.close()
        self.devices.close()
        self.device.close()

    def holds_on(self, index: int) -> DeviceHolds:
        """The space holds of device `index` (its path found first)."""
        holds = self._holds.get(index)
        if holds is None:
            holds = self._holds.setdefault(index, DeviceHolds(self.devices.path(index)))
        return holds

    def __enter__(self) -> Filesystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- replay -------------------------------------------------------------------------

    def _restore(self, restored: log_index.Restored) -> None:
        """Take the replay of entries [0, restored.entries) from a checked index."""
        self.namespace = Namespace(frozen=restored.nodes, source=self.log,
                                   counts=restored.counts, conflicts=restored.conflicts)
        for dev, (dev_uuid, size) in sorted(restored.devices.items()):
            self._register_device(dev, dev_uuid, size)
        for dev, (starts, ends) in restored.runs.items():
            space = self.allocator.maps.get(dev)
            if space is not None:
                space.starts, space.ends = list(starts), list(ends)
        self.allocator.collisions = list(restored.collisions)
        self.applied = self._indexed = self.index_entries = restored.entries
        self._index_crcs = restored.crcs
        self._replayed_sum = restored.log_sum

    def save_index(self) -> bool:
        """Write the host-local index of the entries replayed so far (a no-op for logs too
        small to index, or when the index directory cannot be used)."""
        if not log_index.enabled(self.applied) or self.applied <= self._indexed:
            return False
        ns = self.namespace
        restored = log_index.Restored(
            entries=self.applied, log_sum=self._replayed_sum, nodes=ns.freeze(),
            counts=(ns.files, ns.directories, ns.file_bytes), conflicts=list(ns.conflicts),
            collisions=list(self.allocator.collisions),
            devices={m.index: (m.uuid, m.size) for m in self.devices if m.index != 0},
            runs={dev: (space.starts, space.ends) for dev, space in self.allocator.maps.items()},
            crcs=self._index_crcs)
        if log_index.save(self.device, self.sb, restored):
            self._indexed = self.applied
            self._index_crcs = None
            return True
        return False

    def _count_replayed(self, start: int, stop: int) -> None:
        """Add the bytes of entries [start, stop), just applied, to the replayed sum."""
        if stop > start:
            self._replayed_sum = (self._replayed_sum +
                                  log_index.log_sum(self.device, self.sb, start, stop)) % (1 << 64)

    def refresh(self) -> ReplayStats:
        """Replay log entries appended since the last replay. Idempotent."""
        head = self.log.header()
        files, dirs = self.namespace.files, self.namespace.directories
        start = self.applied
        try:
            if head.next_index - start >= BULK_REPLAY:
                self._replay_bulk(start, head.next_index)
            else:
                for entry in self.log.entries(start, head.next_index):
                    self._apply(entry, mark=True)
        finally:
            self._count_replayed(start, self.applied)
        return ReplayStats(head.next_index - start, self.namespace.files - files,
                           self.namespace.directories - dirs)

    def _replay_bulk(self, start: int, stop: int) -> None:
        """Replay slots [start, stop) as one entry at a time would, decoded and checked in
        bulk: entries the bulk checks cannot pass are decoded one by one, in order, and the
        first bad one raises its CorruptError after everything before it is applied."""
        buf = self.device.buf
        offset = self.log.base + entry_offset(start)
        table = decode_entries(buf, offset, start, stop - start)
        failing, rows = regular_extents(table, self.sb.alloc_unit, self.device_sizes[0],
                                        self.data_start)
        slow = sorted(set(table.slow.tolist()) | set(failing.tolist()))
        decoded: dict[int, LogEntry] = {}
        end = len(table)
        error: CorruptError | None = None
        for pos in slow:
            index = start + pos
            try:
                entry = decode_entry(buf, index, offset + pos * LOG_ENTRY_SIZE)
                payload = entry.payload
                if isinstance(payload, FileEntry):
                    self._check_file_entry(payload, index)
                elif isinstance(payload, AddDaxdevEntry):
                    self._add_device(index, payload)
            except CorruptError as exc:
                error, end = exc, pos
                break
            decoded[pos] = entry
        self._mark_bulk(start, end, rows, decoded)
        rec = table.rec[:end]
        is_dir = (rec["type"] == EntryType.MKDIR).tolist()
        modes = np.where(rec["type"] == EntryType.MKDIR, rec["d_mode"], rec["f_mode"]).tolist()
        uids = np.where(rec["type"] == EntryType.MKDIR, rec["d_uid"], rec["f_uid"]).tolist()
        gids = np.where(rec["type"] == EntryType.MKDIR, rec["d_gid"], rec["f_gid"]).tolist()
        sizes = np.where(rec["type"] == EntryType.MKDIR, 0, rec["f_size"]).tolist()
        flags = np.where(rec["type"] == EntryType.MKDIR, 0, rec["f_flags"]).tolist()
        paths = table.relpaths
        add = self.namespace.add
        for pos in range(end):
            entry = decoded.get(pos)  # type: ignore[assignment]
            if entry is None:
                add(start + pos, is_dir[pos], paths[pos].decode("utf-8", "surrogateescape"),
                    modes[pos], uids[pos], gids[pos], sizes[pos], None, flags[pos])
            elif not isinstance(entry.payload, AddDaxdevEntry):
                self.namespace.apply(start + pos, entry.payload)
        self.applied = start + end
        if error is not None:
            raise error

    def _mark_bulk(self, start: int, end: int, rows: np.ndarray,
                   decoded: dict[int, LogEntry]) -> None:
        """Mark the extents of the FILE entries in positions [0, end) of a bulk replay: `rows`
        (position, offset, length) on device 0 for the regular ones, `decoded` for the rest."""
        au = self.sb.alloc_unit
        rows = rows[rows[:, 0] < end]
        extra = [(pos, ext.devindex, ext.offset, ext.length)
                 for pos, entry in sorted(decoded.items()) if pos < end
                 and isinstance(entry.payload, FileEntry)
                 for ext in entry.payload.fmap.all_extents()]
        pos = rows[:, 0]
        devs = np.zeros(len(rows), dtype=np.int64)
        offs, lens = rows[:, 1], rows[:, 2]
        if extra:
            more = np.array(extra, dtype=np.int64)
            pos = np.concatenate([pos, more[:, 0]])
            devs = np.concatenate([devs, more[:, 1]])
            offs = np.concatenate([offs, more[:, 2]])
            lens = np.concatenate([lens, more[:, 3]])
            order = np.argsort(pos, kind="stable")
            pos, devs, offs, lens = pos[order], devs[order], offs[order], lens[order]
        self.allocator.mark_runs(devs, offs // au, -(-(offs + lens) // au), pos + start)

    def _apply(self, entry: LogEntry, mark: bool, checked: bool = False) -> Node | None:
        """Apply one entry; `checked`: its map was checked against the devices already."""
        index, payload = entry.seqnum, entry.payload
        if isinstance(payload, FileEntry):
            if not checked:
                self._check_file_entry(payload, index)
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

    def _check_file_entry(self, payload: FileEntry, index: int) -> None:
        check_fmap(payload.fmap, payload.size, index, self.sb.alloc_unit, self.device_sizes,
                   self.data_start)

    def _add_device(self, index: int, dev: AddDaxdevEntry) -> None:
        if not 0 < dev.index < MAX_DEVICES:
            raise CorruptError("log entry", "dd_index",
                               f"device index {dev.index} is not in 1..{MAX_DEVICES - 1}", index)
        if dev.index in self.device_sizes:
            raise CorruptError("log entry", "dd_index",
                               f"device index {dev.index} was added already", index)
        if dev.index != len(self.device_sizes):
            raise CorruptError("log entry", "dd_index",
                               f"device index {dev.index} is out of order: devices are numbered "
                               f"densely, the next is {len(self.device_sizes)}", index)
        dev_uuid = uuid.UUID(bytes=dev.uuid)
        if dev_uuid.int and any(m.uuid == dev_uuid for m in self.devices):
            raise CorruptError("log entry", "dd_uuid",
                               f"device UUID {dev_uuid} is a device of this famfs already", index)
        if dev.size < self.sb.alloc_unit:
            raise CorruptError("log entry", "dd_size", f"{dev.size:#x} bytes is too small", index)
        if dev.size // self.sb.alloc_unit > MAX_ALLOC_UNITS:
            raise CorruptError("log entry", "dd_size",
                               f"{dev.size:#x} bytes is more than {MAX_ALLOC_UNITS} allocation "
                               f"units", index)
        self._register_device(dev.index, dev_uuid, dev.size)

    def _register_device(self, devindex: int, dev_uuid: uuid.UUID, size: int) -> None:
        """Device `devindex` of `size` bytes, known by `dev_uuid`, is part of this famfs (from
        its checked ADD_DAXDEV entry, or from an index of the log)."""
        self.device_sizes[devindex] = size
        self.devices.add(devindex, dev_uuid, size)
        self.allocator.add_device(devindex, size)

    # --- roles --------------------------------------------------------------------------

    def is_master(self) -> bool:
        """Whether this host's system UUID is the one in the superblock."""
        return system_uuid() == self.sb.system_uuid

    def check_master(self, what: str) -> None:
        """RoleError unless this host is the master (the only host that may `what`, e.g.
        'create files'); UsageError if the device was opened read-only; DeviceError if the
        filesystem has a problem that makes writing unsafe (a short device)."""
        me = system_uuid()
        if me != self.sb.system_uuid:
            raise RoleError(f"this host ({me}) is a client of the famfs on {self.path}; only "
                            f"its master ({self.sb.system_uuid}) may {what}")
        if not self.device.writable:
            raise UsageError(f"{self.path} was opened read-only; cannot {what}")
        if self.problems:
            raise DeviceError(f"cannot {what}: {self.problems[0]}")

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, relpath: str) -> Node:
        return self.namespace.lookup(relpath)

    def file(self, relpath: str) -> File:
        node = self.namespace.lookup(relpath)
        if not isinstance(node, File):
            raise IsDirectoryError(f"{relpath or '/'}: is a directory, not a file")
        return node

    # --- creating files: reserve, write, commit -----------------------------------------

    def reserve(self, specs: Sequence[NewFile]) -> Reservation:
        """Take space for `specs` and hold it for this process (master only).

        A spec whose path is a logged file of the same size yields that file (no new entry);
        a different size, a directory, a missing parent or a reserved name is an error, raised
        before anything is taken. The new files' backing store is reserved (image files), so
        writing their bytes cannot fault. Write the bytes, then `commit`.
        """
        self.check_master("create files")
        with self.device.append_lock():
            return self._reserve(specs, hold=True)

    def _open_devices_for(self, specs: Sequence[NewFile]) -> None:
        """Open every device the allocation policy may use for `specs` (all of them, unless
        every spec names its device): a missing one is MissingDeviceError, before anything
        is taken."""
        named = {spec.device for spec in specs}
        if None in named:
            self.devices.open_all()
            return
        for index in sorted(i for i in named if i is not None):
            if index in self.devices:
                self.devices.device(index)

    def _reserve(self, specs: Sequence[NewFile], hold: bool) -> Reservation:
        self.refresh()
        files: list[File] = []
        pending: list[File] = []
        placed: list[NewFile] = []
        seen: set[str] = set()
        parents: set[str] = set()
        ns = self.namespace
        ns.prefetch([spec.relpath for spec in specs])
        node_id = ns.node_id
        for spec in specs:
            relpath = spec.relpath
            # The common spec passes every check of `_plan` at a glance: a plain new name (a
            # path check_relpath accepts is normalized) that no node has, in a parent
            # checked already, with a positive size and no placement asked for. Any other
            # goes through `_plan`, which says what is wrong.
            if spec.interleave is None and spec.device is None and spec.size > 0 \
                    and relpath not in seen and not relpath.startswith(META_DIR) \
                    and relpath.rpartition("/")[0] in parents and _plain_path(relpath) \
                    and node_id(relpath) is None:
                seen.add(relpath)
            else:
                existing = self._plan(spec, seen, parents)
                if existing is not None:
                    files.append(existing)
                    continue
            node = File(relpath, spec.mode & 0o7777, spec.uid, spec.gid, None)
            files.append(node)
            pending.append(node)
            placed.append(spec)
        head = self.log.header()
        if head.next_index + len(pending) > head.slots:
            raise LogFullError(f"log full: {head.next_index} of {head.slots} slots used, "
                               f"{len(pending)} more needed")
        self._open_devices_for(specs)
        taken = self._held_space()
        device = self._one_device(placed)
        columns: Placed | None = None
        if device is None:
            for node, spec in zip(pending, placed, strict=True):
                self._place(node, spec, taken, head.next_index)
        else:
            columns = self._place_contiguous(pending, placed, device, taken, head.next_index)
        reservation = Reservation(self, files, pending, applied=self.applied, placed=columns)
        if hold:
            reservation.held = _merged(_extent_runs(pending)) if columns is None \
                else columns.held_runs()
        try:
            self._reserve_backing(pending, columns)
            for devindex, offset, length in reservation.held:
                self.holds_on(devindex).hold(offset, length)
        except BaseException:
            self._release(reservation.held)
            raise
        return reservation

    def _one_device(self, specs: Sequence[NewFile]) -> int | None:
        """The device every spec of `specs` goes on as one contiguous extent, if the
        allocation policy leaves no choice (one device, or all name the same), else None."""
        if not specs or any(spec.interleave is not None for spec in specs):
            return None
        named = {spec.device for spec in specs}
        if named == {None}:
            return 0 if len(self.device_sizes) == 1 else None
        return named.pop() if len(named) == 1 else None

    def _place(self, node: File, spec: NewFile, taken: dict[int, SpaceMap],
               index: int) -> None:
        """Allocate pending file `node` by the policy, its entry checked as log entry
        `index`, and add its space to `taken`."""
        fmap = self._allocate(spec, taken)
        node.entry = FileEntry(spec.relpath, spec.size, fmap, spec.mode, spec.uid, spec.gid,
                               FILE_FLAG_ALL_HOSTS_RW)
        self._check_file_entry(node.entry, index)
        for ext in fmap.all_extents():
            space = taken.get(ext.devindex)
            if space is None:
                space = taken[ext.devindex] = SpaceMap(self.allocator.maps[ext.devindex].aus)
            first, end = self.allocator.aus_of(ext)
            space.add(first, end)

    def _place_contiguous(self, nodes: list[File], specs: list[NewFile], device: int,
                          taken: dict[int, SpaceMap], index: int) -> Placed:
        """`_place` of each node in turn, for files that all go on `device` as one extent:
        the same first-fit extents, found in one pass, and the same checks (an entry whose
        extent is not `plainly_valid` gets check_fmap's own, in order; its length is the
        size rounded up to the allocation unit, so it holds the file). Returns the files
        as columns."""
        au = self.sb.alloc_unit
        size_list = [spec.size for spec in specs]
        offset_list = self.allocator.alloc_contiguous_many(size_list, device, taken)
        simple = ExtentType.SIMPLE
        flags = FILE_FLAG_ALL_HOSTS_RW
        sizes = np.array(size_list, dtype=np.int64)
        offsets = np.array(offset_list, dtype=np.int64)
        lengths = -(-sizes // au) * au
        for node, spec, offset, length in zip(nodes, specs, offset_list, lengths.tolist(),
                                              strict=True):
            node.entry = FileEntry(
                spec.relpath, spec.size, FileMap(simple, (SimpleExtent(device, offset, length),)),
                spec.mode, spec.uid, spec.gid, flags)
        dev0, start = self.device_sizes[0], self.data_start
        plain = (offsets > 0) & (offsets >= start) & (offsets % au == 0) & \
            (offsets + lengths <= dev0) if device == 0 else np.zeros(len(nodes), dtype=bool)
        for pos in np.flatnonzero(~plain).tolist():
            node = nodes[pos]
            ext = node.entry.fmap.extents[0]
            if not plainly_valid(device, ext.offset, ext.length, au, dev0, start):
                self._check_file_entry(node.entry, index)
        return Placed(device, offsets, lengths, sizes)

    def _plan(self, spec: NewFile, seen: set[str], parents: set[str] | None = None
              ) -> File | None:
        """Check one spec; the logged file it names already, or None for a new file.
        `parents` (if given) holds parent paths checked already by this caller, the
        namespace unchanged since."""
        check_name(spec.relpath)
        if spec.size <= 0:
            raise UsageError(f"{spec.relpath}: size {spec.size} must be positive")
        if spec.interleave is not None:
            if spec.device is not None:
                raise UsageError(f"{spec.relpath}: an interleaved file goes on several devices; "
                                 f"it cannot be placed on device {spec.device}")
            spec.interleave.check(self.sb.device_size, self.sb.alloc_unit,
                                  min_bucket=self.min_bucket_size(),
                                  ndevices=len(self.device_sizes))
        if spec.device is not None and spec.device not in self.device_sizes:
            raise UsageError(f"{spec.relpath}: device {spec.device} is not a device of this "
                             f"famfs (its devices are 0..{len(self.device_sizes) - 1})")
        existing = self.namespace.find(spec.relpath)
        if existing is not None:
            if not isinstance(existing, File):
                raise ExistsError(f"{spec.relpath}: exists and is a directory")
            if existing.size != spec.size:
                raise ExistsError(f"{spec.relpath}: exists with size {existing.size}, "
                                  f"not {spec.size}")
            return existing
        if spec.relpath in seen:
            raise ExistsError(f"{spec.relpath}: named twice")
        seen.add(spec.relpath)
        parent = spec.relpath.rpartition("/")[0]
        if parents is None or parent not in parents:
            self._check_parent(spec.relpath)
            if parents is not None:
                parents.add(parent)
        return None

    def _held_space(self) -> dict[int, SpaceMap]:
        """AUs held by live reservations of any process on this host, by device index (the
        devices opened so far: the ones allocations may use)."""
        au = self.sb.alloc_unit
        out: dict[int, SpaceMap] = {}
        for member in self.devices:
            if member.device is None:
                continue
            space = out[member.index] = SpaceMap(self.allocator.maps[member.index].aus)
            for offset, length in self.holds_on(member.index).held():
                space.add(offset // au, -(-(offset + length) // au))
        return out

    def _reserve_backing(self, nodes: list[File], placed: Placed | None = None) -> None:
        """Make sure each image file has storage for the bytes of `nodes` (fallocate), so that
        writing them cannot fault. DAX devices have their memory already. `placed`: the same
        files as columns, if known."""
        if not nodes:
            return
        page = mmap.PAGESIZE
        runs = placed.used_pages(page) if placed is not None \
            else _page_runs(_used_runs_of(nodes), page)
        at = 0
        while at < len(runs):
            devindex = runs[at][0]
            stop = at
            while stop < len(runs) and runs[stop][0] == devindex:
                stop += 1
            device = self.devices.device(devindex)
            if not device.is_dax:
                _fallocate_runs(device, runs[at:stop], nodes)
            at = stop

    def commit(self, reservation: Reservation) -> list[File]:
        """Log the reservation's new files, data before metadata: their bytes are flushed
        first, then each entry is checked again (its path may have been taken meanwhile by
        another process) and the good ones are appended in one batch. Returns the logged
        files in spec order (already-logged ones included); the ones that could not be logged
        are in `reservation.errors`. The held space is given back either way."""
        return self.commit_many([reservation])[0]

    def commit_many(self, reservations: Sequence[Reservation]) -> list[list[File]]:
        """Commit several reservations with one append (see `commit`): one list of logged
        files per reservation. A grown file whose space cannot be trimmed, or that finds
        the log full, is left out with the reason in its reservation's `errors`; the others
        are still logged."""
        if any(r.done for r in reservations):
            raise UsageError("this reservation was committed or aborted already")
        self.check_master("create files")
        try:
            nodes: list[tuple[Reservation, File]] = []
            for r in reservations:
                for node in list(r.pending):
                    if r.growing:
                        try:
                            self._trim(r, node)
                        except FamfsError as exc:
                            r.errors.append((node, exc))
                            continue
                    nodes.append((r, node))
            columns = _joined(reservations)
            if columns is not None:
                self._flush_placed(columns)
            else:
                self.flush_files([node for _, node in nodes])
            with self.device.append_lock():
                self.refresh()
                good: list[File] = []
                for r, node in nodes:
                    problem = self._still_free(node) if self.applied != r.applied else None
                    if problem is None:
                        good.append(node)
                    else:
                        r.errors.append((node, problem))
                head = self.log.header()
                room = max(0, head.slots - head.next_index)
                full = LogFullError(f"log full: {head.next_index} of {head.slots} slots used")
                for node in good[room:]:
                    next(r for r, n in nodes if n is node).errors.append((node, full))
                whole = columns is not None and len(good) == len(nodes) <= room
                logged = self._append_files(good[:room], columns if whole else None)
        finally:
            for r in reservations:
                self._release(r.held)
                r.done = True
        out: list[list[File]] = []
        for r in reservations:
            failed = {id(node) for node, _ in r.errors}
            files: list[File] = []
            for node in r.files:
                if node.index is not None:
                    files.append(node)
                elif id(node) not in failed:
                    files.append(logged[id(node)])
            out.append(files)
        return out

    def _still_free(self, node: File) -> FamfsError | None:
        """Why `node` cannot be logged now, or None."""
        existing = self.namespace.find(node.relpath)
        if existing is not None:
            return ExistsError(f"{node.relpath}: was created by another process meanwhile")
        try:
            self._check_parent(node.relpath)
        except FamfsError as exc:
            return exc
        if self.allocator.collides(node.entry.fmap):
            return NoSpaceError(f"{node.relpath}: its space was logged by another process "
                                f"meanwhile")
        return None

    def _append_files(self, nodes: list[File], placed: Placed | None = None
                      ) -> dict[int, File]:
        """Append FILE entries for `nodes` (checked) and apply them; {id(node): logged File}.
        `placed`: the same files as columns, if known."""
        if not nodes:
            return {}
        entries = [node.entry for node in nodes]
        first = self.log.append(entries)
        self.log.flush()
        out: dict[int, File] = {}
        try:
            au = self.sb.alloc_unit
            if placed is not None:
                count = len(placed.offsets)
                self.allocator.mark_runs(
                    np.full(count, placed.device, dtype=np.int64), placed.offsets // au,
                    (placed.offsets + placed.lengths) // au,
                    np.arange(first, first + count, dtype=np.int64))
            else:
                extents = [(i, ext.devindex, ext.offset, ext.length)
                           for i, node in enumerate(nodes)
                           for ext in node.entry.fmap.all_extents()]
                rows = np.array(extents, dtype=np.int64).reshape(-1, 4)
                self.allocator.mark_runs(rows[:, 1], rows[:, 2] // au,
                                         -(-(rows[:, 2] + rows[:, 3]) // au),
                                         rows[:, 0] + first)
            made = self.namespace.add_files(first, entries)
            self.applied = first + len(nodes)
            for node, logged in zip(nodes, made, strict=True):
                assert isinstance(logged, File)
                out[id(node)] = logged
        finally:
            self._count_replayed(first, self.applied)
        return out

    def abort(self, reservation: Reservation) -> None:
        """Give back the space of a reservation that will not be committed."""
        if not reservation.done:
            self._release(reservation.held)
            reservation.done = True

    def _release(self, runs: list[tuple[int, int, int]]) -> None:
        for devindex, offset, length in runs:
            holds = self._holds.get(devindex)
            if holds is not None:
                holds.release(offset, length)

    # --- files that grow before they are logged -------------------------------------

    def reserve_growing(self, relpath: str, mode: int = 0o644, uid: int = 0,
                        gid: int = 0, room: int = 0) -> Reservation:
        """A reservation for one new, empty file at `relpath`, to be given room with `grow`
        as it is written and logged by `commit` at its final size (master only). The path
        is checked now (a logged name, a missing parent or a reserved name is an error).
        `room` bytes of space are taken at once, as `grow` would take them (the file's size
        stays 0): an allocation unit saves a small file its own growth step, and every
        logged file has at least that."""
        self.check_master("create files")
        with self.device.append_lock():
            self.refresh()
            if self.namespace.find(relpath) is not None:
                raise ExistsError(f"{relpath}: exists already")
            self._plan(NewFile(relpath, 1, mode, uid, gid), set())
            node = File(relpath, mode & 0o7777, uid, gid, None,
                        FileEntry(relpath, 0, FileMap.simple([]), mode, uid, gid,
                                  FILE_FLAG_ALL_HOSTS_RW))
            reservation = Reservation(self, [node], [node], applied=self.applied,
                                      growing=True)
            if room:
                extents: list[SimpleExtent] = []
                try:
                    self._take_room(reservation, node, extents, 0, room, exact=False)
                except BaseException:
                    self.abort(reservation)
                    raise
                node.entry = FileEntry(relpath, 0, FileMap.simple(extents), mode, uid, gid,
                                       FILE_FLAG_ALL_HOSTS_RW)
            return reservation

    def grow(self, reservation: Reservation, node: File, size: int,
             exact: bool = False) -> None:
        """Make pending file `node` `size` bytes long, taking more space if it needs it.

        Space comes in extents of doubling size (2 MiB, 4 MiB, ...), each held like the rest
        of the reservation, so a file written from start to end needs at most 16 extents;
        where the space right after the last extent is free, that extent grows instead. With
        `exact` (fallocate), exactly the missing space is taken and its backing store
        reserved. A size needing more than 16 extents is NoSpaceError (EFBIG). A smaller size
        keeps the space until `commit` gives back what the final size does not use."""
        if node not in reservation.pending or reservation.done:
            raise UsageError(f"{node.relpath}: not a pending file of this reservation")
        reservation.placed = None
        extents = list(node.entry.fmap.extents)
        capacity = sum(e.length for e in extents)
        if size > capacity:
            with self.device.append_lock():
                self.refresh()
                self._take_room(reservation, node, extents, capacity, size, exact)
        node.entry = FileEntry(node.relpath, size, FileMap.simple(extents), node.entry.mode,
                               node.entry.uid, node.entry.gid, node.entry.flags)
        if exact:
            self._reserve_backing([node])

    def _take_room(self, reservation: Reservation, node: File, extents: list[SimpleExtent],
                   capacity: int, size: int, exact: bool) -> None:
        """Extend `extents` (holding `capacity` bytes) until they hold `size` bytes, each new
        run held for `reservation` (see `grow`; the append lock held, the log replayed)."""
        au = self.sb.alloc_unit
        taken = self._held_space()
        while capacity < size:
            want = round_up(size - capacity, au)
            if not exact and extents:
                want = max(want, 2 * extents[-1].length)
            elif not exact:
                want = max(want, au)
            ext = self._extend_last(extents, want, taken) if extents else None
            if ext is None:
                if len(extents) >= MAX_SIMPLE_EXTENTS:
                    raise NoSpaceError(
                        f"{node.relpath}: {size} bytes need more than "
                        f"{MAX_SIMPLE_EXTENTS} extents; reserve the space first "
                        f"(fallocate)", errno.EFBIG)
                (ext,) = self.allocator.alloc_contiguous(want, taken=taken).extents
                extents.append(ext)
                start = ext.offset
            else:
                start = extents[-1].offset + extents[-1].length
                extents[-1] = ext
            devindex = extents[-1].devindex
            self.holds_on(devindex).hold(start, want)
            reservation.held.append((devindex, start, want))
            first = start // au
            space = taken.get(devindex)
            if space is None:
                space = taken[devindex] = SpaceMap(self.allocator.maps[devindex].aus)
            space.add(first, first + want // au)
            capacity += want

    def _extend_last(self, extents: list[SimpleExtent], want: int,
                     taken: dict[int, SpaceMap]) -> SimpleExtent | None:
        """The last extent grown by `want` bytes, if the space right after it is free."""
        last = extents[-1]
        au = self.sb.alloc_unit
        first = (last.offset + last.length) // au
        end = first + want // au
        space = self.allocator.maps[last.devindex]
        if end > space.aus or space.overlaps(first, end):
            return None
        held = taken.get(last.devindex)
        if held is not None and held.overlaps(first, end):
            return None
        return SimpleExtent(last.devindex, last.offset, last.length + want)

    def _trim(self, reservation: Reservation, node: File) -> None:
        """Cut a grown file's space to what its size needs (at least one allocation unit: a
        log entry has an extent), giving the rest back."""
        au = self.sb.alloc_unit
        if not node.entry.fmap.extents:
            self.grow(reservation, node, au)
            node.entry = FileEntry(node.relpath, 0, node.entry.fmap, node.entry.mode,
                                   node.entry.uid, node.entry.gid, node.entry.flags)
        need = max(round_up(node.size, au), au)
        kept: list[SimpleExtent] = []
        for ext in node.entry.fmap.extents:
            if need <= 0:
                self.holds_on(ext.devindex).release(ext.offset, ext.length)
                continue
            if ext.length > need:
                self.holds_on(ext.devindex).release(ext.offset + need, ext.length - need)
                ext = SimpleExtent(ext.devindex, ext.offset, need)
            kept.append(ext)
            need -= ext.length
        node.entry = FileEntry(node.relpath, node.size, FileMap.simple(kept), node.entry.mode,
                               node.entry.uid, node.entry.gid, node.entry.flags)

    def set_attributes(self, node: File, mode: int | None = None, uid: int | None = None,
                       gid: int | None = None) -> None:
        """Change the mode or owner a pending file will be logged with."""
        entry = node.entry
        mode = entry.mode if mode is None else mode & 0o7777
        uid = entry.uid if uid is None else uid
        gid = entry.gid if gid is None else gid
        node.mode, node.uid, node.gid = mode, uid, gid
        node.entry = FileEntry(node.relpath, entry.size, entry.fmap, mode, uid, gid, entry.flags)

    def rename_pending(self, reservation: Reservation, node: File, relpath: str) -> None:
        """Give a pending file another path (checked as a new name)."""
        if node not in reservation.pending or reservation.done:
            raise UsageError(f"{node.relpath}: not a pending file of this reservation")
        check_name(relpath)
        if self.namespace.find(relpath) is not None:
            raise ExistsError(f"{relpath}: exists already")
        self._check_parent(relpath)
        entry = node.entry
        node.relpath = relpath
        node.entry = FileEntry(relpath, entry.size, entry.fmap, entry.mode, entry.uid, entry.gid,
                               entry.flags)

    def create_files(self, specs: Sequence[NewFile]) -> list[File]:
        """Allocate and log `specs` at once, for files whose bytes the caller does not write
        (their contents are whatever the space held). Errors are raised before anything is
        written (see `reserve`); nothing is half-logged."""
        self.check_master("create files")
        with self.device.append_lock():
            reservation = self._reserve(specs, hold=False)
            logged = self._append_files(reservation.pending)
            reservation.done = True
        return [node if node.index is not None else logged[id(node)]
                for node in reservation.files]

    def create_file(self, relpath: str, size: int, mode: int = 0o644, uid: int = 0,
                    gid: int = 0, interleave: InterleaveParams | None = None) -> File:
        """Allocate and log one file of exactly `size` bytes (see create_files)."""
        return self.create_files([NewFile(relpath, size, mode, uid, gid, interleave)])[0]

    def min_bucket_size(self) -> int:
        """Smallest interleave bucket allowed: the reference's 1 GiB, or less on an image too
        small to hold such buckets (small images are allowed on purpose)."""
        return min(MIN_BUCKET_SIZE, self.sb.device_size // 64)

    def _allocate(self, spec: NewFile, taken: dict[int, SpaceMap]) -> FileMap:
        """Space for `spec`, by the allocation policy (see the module docstring)."""
        alloc = self.allocator
        if spec.device is not None:
            return alloc.alloc_contiguous(spec.size, spec.device, taken=taken)
        order = sorted(self.device_sizes)
        random.shuffle(order)
        il = spec.interleave
        if il is not None and len(order) > 1:
            return alloc.alloc_striped(spec.size, il.nstrips, il.chunk_size, order, taken=taken)
        if il is not None:
            return alloc.alloc_interleaved(spec.size, il, taken=taken)
        return alloc.alloc_spread(spec.size, order, taken=taken)

    def _check_parent(self, relpath: str) -> None:
        if "/" not in relpath:
            return
        parent = relpath.rsplit("/", 1)[0]
        node = self.namespace.find(parent)
        if node is None:
            try:
                self.namespace.lookup(parent)
            except PathError as exc:
                raise type(exc)(f"{relpath}: {exc}") from None
            except NotFoundError:
                raise NotFoundError(f"{relpath}: parent directory {parent} does not "
                                    f"exist") from None
        if not isinstance(node, Directory):
            raise NotDirectoryError(f"{relpath}: {parent} is a file, not a directory")

    # --- directories and clones ---------------------------------------------------------

    def mkdir(self, relpath: str, parents: bool = False, mode: int = 0o755, uid: int = 0,
              gid: int = 0) -> Directory:
        """Log a directory. Without `parents`, an existing target or missing parent fails;
        with it, missing parents are created and existing directories accepted."""
        self.check_master("make directories")
        relpath = relpath.strip("/")
        check_name(relpath)
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
                self.log.flush()
                for i, payload in enumerate(payloads):
                    self._apply(LogEntry(first + i, payload), mark=False)
                self._count_replayed(first, self.applied)
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
            check_name(dst)
            self.namespace.check_new(dst)
            payload = FileEntry(dst, source.size, source.entry.fmap, source.mode, source.uid,
                                source.gid, source.entry.flags)
            self._check_file_entry(payload, self.applied)
            first = self.log.append([payload])
            self.log.flush()
            node = self._apply(LogEntry(first, payload), mark=True)
            self._count_replayed(first, self.applied)
            assert isinstance(node, File)
            return node

    # --- file data ----------------------------------------------------------------------
    # File bytes are read and written through their maps by famfs.mapping.files; here only
    # whole extents are handled (flushing, backing store).

    def flush_file(self, node: File) -> None:
        """msync the bytes of `node`: durable and visible to other hosts."""
        self.flush_files([node])

    def flush_files(self, nodes: Sequence[File]) -> None:
        """msync the bytes of every file of `nodes`: one msync per device, over the range
        from the first of their bytes there to the last (msync writes back only what is
        dirty, so the bytes in between cost nothing)."""
        bounds: dict[int, tuple[int, int]] = {}
        for devindex, offset, length in _used_runs_of(nodes):
            lo, hi = bounds.get(devindex, (offset, offset + length))
            bounds[devindex] = (min(lo, offset), max(hi, offset + length))
        for devindex, (lo, hi) in sorted(bounds.items()):
            self.devices.device(devindex).flush(lo, hi - lo)

    def _flush_placed(self, placed: Placed) -> None:
        """`flush_files` of the files of `placed`: one msync over the range from the first
        of their bytes to the last."""
        starts, ends = placed.used_spans()
        if len(starts):
            lo = int(starts.min())
            self.devices.device(placed.device).flush(lo, int(ends.max()) - lo)

    # --- checks -------------------------------------------------------------------------

    @property
    def collisions(self) -> list[Collision]:
        return self.allocator.collisions


def _plain_path(relpath: str) -> bool:
    """Whether `relpath` passes `check_relpath` (and so `check_name`, unless it starts with
    META_DIR): its fast test, without the messages."""
    try:
        check_relpath(relpath)
    except PathError:
        return False
    return True


def check_name(relpath: str) -> None:
    """PathError unless `relpath` may name a new file or directory: a valid famfs path that
    does not use the name the mount reserves for its metadata files."""
    check_relpath(relpath)
    if relpath == META_DIR or relpath.startswith(META_DIR + "/"):
        raise PathError(f"{relpath}: the name {META_DIR} is reserved in the filesystem root "
                        f"for the mount's metadata files")


def _fallocate_runs(device: Device, runs: Sequence[tuple[int, int, int]],
                    nodes: Sequence[File]) -> None:
    """Reserve storage in image `device` for each (device index, offset, bytes) run of
    `runs` (for the files `nodes`, named in errors). A filesystem that cannot reserve
    (EOPNOTSUPP) is left as it is. The first run goes through fallocate(2), which says
    whether the filesystem can; the others through os.posix_fallocate, which then makes the
    same call (mode 0) with less overhead."""
    fd = device.fd
    for pos, (_, start, n) in enumerate(runs):
        if pos == 0:
            err = ctypes.get_errno() if _fallocate(fd, 0, start, n) != 0 else 0
        else:
            try:
                os.posix_fallocate(fd, start, n)
                continue
            except OSError as exc:
                err = exc.errno or errno.EIO
        if not err:
            continue
        if err in (errno.EOPNOTSUPP, errno.ENOSYS):
            return
        what = nodes[0].relpath if len(nodes) == 1 else f"{len(nodes)} files"
        if err == errno.ENOSPC:
            raise NoSpaceError(f"{what}: no room in the backing store of {device.path} for "
                               f"{n} bytes at {start:#x} (the image file's filesystem is "
                               f"full)")
        raise DeviceError(f"{device.path}: cannot reserve storage for {what}: "
                          f"{os.strerror(err)}", err)


def _joined(reservations: Sequence[Reservation]) -> Placed | None:
    """The pending files of `reservations`, in order, as one Placed, if every reservation
    has its files as columns on one same device; else None."""
    parts = [r.placed for r in reservations]
    if not parts or any(p is None or r.growing for p, r in zip(parts, reservations,
                                                                strict=True)):
        return None
    known = [p for p in parts if p is not None]
    if len(known) == 1:
        return known[0]
    if len({p.device for p in known}) != 1:
        return None
    return Placed(known[0].device, np.concatenate([p.offsets for p in known]),
                  np.concatenate([p.lengths for p in known]),
                  np.concatenate([p.sizes for p in known]))


def _merged_columns(devs: np.ndarray, starts: np.ndarray, ends: np.ndarray
                    ) -> list[tuple[int, int, int]]:
    """(device index, offset, length) runs [starts[i], ends[i]) of device devs[i] (int64
    arrays) sorted, with runs of one device that touch or overlap merged: `_merged`, in
    NumPy."""
    if not len(devs):
        return []
    order = np.lexsort((ends, starts, devs))
    devs, starts, ends = devs[order], starts[order], ends[order]
    out: list[tuple[int, int, int]] = []
    cuts = (np.flatnonzero(devs[1:] != devs[:-1]) + 1).tolist()
    for lo, hi in zip([0, *cuts], [*cuts, len(devs)], strict=True):
        dev = int(devs[lo])
        first, last = starts[lo:hi], ends[lo:hi]
        reach = np.maximum.accumulate(last)
        # A run starts a new merged run unless it touches or overlaps what came before.
        new = np.ones(len(first), dtype=bool)
        new[1:] = first[1:] > reach[:-1]
        heads = np.flatnonzero(new)
        group_ends = np.maximum.reduceat(last, heads)
        out.extend(zip([dev] * len(heads), first[heads].tolist(),
                       (group_ends - first[heads]).tolist(), strict=True))
    return out


def _merged(runs: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(device index, offset, length) runs sorted, with runs of one device that touch or
    overlap merged."""
    out: list[tuple[int, int, int]] = []
    for dev, offset, length in sorted(runs):
        if out and out[-1][0] == dev and out[-1][1] + out[-1][2] >= offset:
            start = out[-1][1]
            out[-1] = (dev, start, max(out[-1][2], offset + length - start))
        else:
            out.append((dev, offset, length))
    return out


def _page_runs(runs: list[tuple[int, int, int]], page: int) -> list[tuple[int, int, int]]:
    """(device index, offset, length) runs widened to whole pages of `page` bytes, then
    `_merged`; many runs at once in NumPy."""
    if len(runs) < 64:
        return _merged((dev, offset - offset % page,
                        round_up(offset + length, page) - (offset - offset % page))
                       for dev, offset, length in runs)
    table = np.array(runs, dtype=np.int64)
    return _page_columns(table[:, 0], table[:, 1], table[:, 1] + table[:, 2], page)


def _page_columns(devs: np.ndarray, starts: np.ndarray, ends: np.ndarray, page: int
                  ) -> list[tuple[int, int, int]]:
    """`_page_runs` of the runs [starts[i], ends[i]) of device devs[i] (int64 arrays)."""
    return _merged_columns(devs, starts - starts % page, -(-ends // page) * page)


def _extent_runs(nodes: Iterable[File]) -> list[tuple[int, int, int]]:
    """(device index, device offset, bytes) of every extent or strip of `nodes`."""
    return [(e.devindex, e.offset, e.length) for node in nodes
            for e in node.entry.fmap.all_extents()]


def _used_runs_of(nodes: Iterable[File]) -> list[tuple[int, int, int]]:
    """`used_runs` of every file of `nodes`, one after another."""
    out: list[tuple[int, int, int]] = []
    for node in nodes:
        entry = node.entry
        extents = entry.fmap.extents
        if len(extents) == 1 and entry.fmap.interleave is None:
            ext = extents[0]
            if entry.size > 0:
                out.append((ext.devindex, ext.offset, min(ext.length, entry.size)))
        else:
            out.extend(used_runs(entry.fmap, entry.size))
    return out


def used_runs(fmap: FileMap, size: int) -> list[tuple[int, int, int]]:
    """(device index, device offset, bytes) of the part of each extent or strip that holds
    the first `size` bytes of a file mapped by `fmap` (no byte offset is resolved: for an
    interleaved map, strip k holds every nstrips-th chunk from chunk k)."""
    out = []
    if fmap.interleave is None:
        left = size
        for ext in fmap.extents:
            if left <= 0:
                break
            n = min(ext.length, left)
            out.append((ext.devindex, ext.offset, n))
            left -= n
        return out
    il = fmap.interleave
    chunk, nstrips = il.chunk_size, il.nstrips
    chunks = -(-size // chunk)
    for k, strip in enumerate(il.strips):
        count = -(-(chunks - k) // nstrips) if k < chunks else 0
        if not count:
            continue
        used = count * chunk
        if (chunks - 1) % nstrips == k:
            used -= chunks * chunk - size
        out.append((strip.devindex, strip.offset, min(used, strip.length)))
    return out
