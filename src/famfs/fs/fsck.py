"""Checking a famfs: superblock, log header, every entry, allocation collisions, name conflicts.

`fsck(path)` replays the whole log read-only and returns an `FsckReport`; it never writes. An
invalid superblock, log header or entry raises the CorruptError that names it. `render()` prints
the report in the reference `famfs fsck` layout, line for line (its field names, spacing and
number formats), so scripts that read it (`Device capacity`, `log_len`, ...) keep working.

On a multi-device famfs the report also has one `DeviceReport` per device (capacity, use, free
space and collisions on it, and where it is on this host), rendered after the single-device
layout (which is unchanged) and as the reference lists its devices under `primary:`. `fsck` of
a secondary device checks its primary, found by the primary's UUID in the secondary's
superblock, and says so first.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from famfs.alloc import Collision
from famfs.errors import FamfsError, MissingDeviceError, SecondaryDeviceError
from famfs.fs.filesystem import Filesystem
from famfs.fs.namespace import Conflict, Directory, File, Node
from famfs.fs.printable import printable
from famfs.omf.layout import (
    LOG_ENTRY_SIZE,
    LOG_HEADER_SIZE,
    MAX_INTERLEAVED_EXTENTS,
    MAX_SIMPLE_EXTENTS,
    MAX_STRIPS,
)
from famfs.omf.log import LogHeader
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock
from famfs.resolver import Resolver

# Sizes of the reference's log structs, as its verbose fsck prints them (bytes).
_SIZEOF_MKDIR = 12 + 80            # struct famfs_log_mkdir: 3 u32, relpath[80]
_SIZEOF_FMAP = 416                 # struct famfs_log_fmap
_SIZEOF_FILE_META = 104 + _SIZEOF_FMAP  # struct famfs_log_file_meta: u64, 4 u32, relpath[80], fmap
_SIZEOF_SIMPLE_EXT = 24            # struct famfs_simple_extent: 3 u64
_SIZEOF_INTERLEAVED_EXT = 16 + MAX_STRIPS * _SIZEOF_SIMPLE_EXT  # struct famfs_interleaved_ext
_GIB = float(1 << 30)


@dataclass(frozen=True)
class Bucket:
    """One of `nbuckets` equal ranges of device 0's allocation bitmap. Bytes."""

    size: int
    used: int
    free_fragments: int
    largest_fragment: int

    @property
    def free(self) -> int:
        return self.size - self.used


@dataclass(frozen=True)
class DeviceReport:
    """One device of a famfs as fsck found it. Sizes in bytes; `used` includes the superblock
    region (and, on the primary, the log). `path` is None when this host has no usable device
    for it; `state` says why (or "ok")."""

    index: int
    uuid: uuid.UUID
    capacity: int
    used: int
    collisions: int
    path: str | None
    state: str = "ok"

    @property
    def free(self) -> int:
        return self.capacity - self.used


@dataclass
class FsckReport:
    """What fsck found. Sizes in bytes.

    `problems` are filesystem-level faults found outside the log's entries (for example a
    device shorter than its superblock says); each is one line of text, rendered after the
    log statistics, and any of them makes the check fail.
    """

    device: str
    sb: Superblock
    header: LogHeader
    files: int
    directories: int
    file_bytes: int
    allocated: int
    capacity: int
    """Bytes of every device (device 0 and any added to the log)."""
    device_capacity: int = 0
    """Bytes of the primary device, as its superblock records them (the reference's
    "Device capacity")."""
    bitmap_capacity: int = 0
    role: str = "Owner"
    collisions: list[Collision] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    overhang: int = 0
    """Bytes of device 0 past the last whole bucket (when buckets were asked for)."""
    devices: list[DeviceReport] = field(default_factory=list)
    """Every device, primary first (one entry on a single-device famfs)."""
    notes: list[str] = field(default_factory=list)
    """Lines printed before the report (fsck of a secondary: which primary was checked)."""

    @property
    def ok(self) -> bool:
        """No cross-links, no namespace conflicts, no filesystem problems."""
        return not self.collisions and not self.conflicts and not self.problems

    @property
    def slots_used(self) -> int:
        return self.header.next_index

    @property
    def slots_free(self) -> int:
        return self.header.slots - self.header.next_index

    def render(self, human: bool = False, verbose: int = 0) -> str:
        """The report as the reference prints it; sizes in bytes, or in G with `human`.
        `verbose` adds the reference's struct sizes and then every logged entry."""
        sb, head = self.sb, self.header
        lines = [
            *self.notes,
            "Famfs Superblock:",
            f"  Filesystem UUID:   {sb.fs_uuid}",
            f"  Device UUID:       {sb.dev_uuid}",
            f"  System UUID:       {sb.system_uuid}",
            f"  role of this node: {self.role}",
            f"  alloc_unit:        {sb.alloc_unit:#x}",
            f"  OMF major version: {sb.omf_major}",
            f"  OMF minor version: {sb.omf_minor}",
            f"  sizeof superblock: {SUPERBLOCK_SIZE}",
            f"  log size (bytes):  {sb.log_len}",
            f"  primary: {printable(sb.device_name)}   {sb.device_size}",
            *[f"         {d.index}: {printable(d.path or d.state)}   {d.capacity}"
              for d in self.devices[1:]],
            "",
            "Log stats:",
            f"  # of log entries in use: {head.next_index} of {head.slots}",
            f"  Log size in use:          {LOG_HEADER_SIZE + head.next_index * LOG_ENTRY_SIZE}",
            f"  Log size (total bytes)    {head.log_len}",
        ]
        if self.collisions:
            au = self.sb.alloc_unit
            count = sum(max(1, -(-c.length // au)) for c in self.collisions)
            lines.append(f"ERROR: {count} ALLOCATION COLLISIONS FOUND")
            for c in self.collisions:
                lines.append(f"  log entry {c.entry_index}: device {c.devindex} offset "
                             f"{c.offset:#x} ({c.length} bytes) is already used by an earlier "
                             f"entry")
            lines.append("")
        else:
            lines += ["  No allocation errors found", ""]
            lines += self._capacity(human)
        lines += [
            "Famfs log:",
            f"  {head.next_index} of {head.slots} entries used",
            f"  {len(self.conflicts)} bad log entries detected",
            f"  {self.files} files",
            f"  {self.directories} directories",
            "",
        ]
        if len(self.devices) > 1:
            lines += self._devices(human)
        if self.conflicts or self.problems:
            lines.append("Problems:")
            lines += [f"  log entry {n.index}: {printable(n.relpath)}: {n.reason}"
                      for n in self.conflicts]
            lines += [f"  {p}" for p in self.problems]
            lines.append("")
        if verbose:
            lines += self._verbose()
        if self.buckets:
            lines += self._buckets()
        return "\n".join(lines) + "\n"

    def _devices(self, human: bool) -> list[str]:
        """The per-device block of a multi-device famfs, in the Capacity block's format."""
        lines = [f"Devices: {len(self.devices)}"]
        for d in self.devices:
            role = " (primary)" if d.index == 0 else ""
            if human:
                rows = [("Device capacity", _g(d.capacity)), ("Allocated space", _g(d.used)),
                        ("Free space", _g(d.free))]
            else:
                rows = [("Device capacity", str(d.capacity)), ("Allocated bytes", str(d.used)),
                        ("Free space", str(d.free))]
            rows += [("Percent used", _fmt1(_f32(100.0 * _f32_div(d.used, d.capacity))) + "%"),
                     ("Allocation collisions", str(d.collisions))]
            lines.append(f"  {d.index}: {printable(d.path or d.state)}{role}")
            lines.append(f"    Device UUID:            {d.uuid}")
            lines += [f"    {name + ':':<23} {value}" for name, value in rows]
        lines.append("")
        return lines

    def _capacity(self, human: bool) -> list[str]:
        cap, bitmap, used, fsum = self.device_capacity, self.bitmap_capacity, self.allocated, \
            self.file_bytes
        space_amp = _f32_div(used, fsum)
        percent = _f32(100.0 * _f32_div(used, bitmap))
        if human:
            rows = [("Device capacity", _g(cap)), ("Bitmap capacity", _g(bitmap)),
                    ("Sum of file sizes", _g(fsum)), ("Allocated space", _g(used)),
                    ("Free space", _fmt2(_f32(_f32(_f32(bitmap) - _f32(used)) / _GIB)) + "G")]
        else:
            rows = [("Device capacity", str(cap)), ("Bitmap capacity", str(bitmap)),
                    ("Sum of file sizes", str(fsum)), ("Allocated bytes", str(used)),
                    ("Free space", str(bitmap - used))]
        lines = ["Capacity:"]
        lines += [f"  {name + ':':<23} {value}" for name, value in rows]
        lines.append(f"  Space amplification:     {_fmt2(space_amp)}")
        lines.append(f"  Percent used:            {_fmt1(percent)}%")
        lines.append("")
        return lines

    def _verbose(self) -> list[str]:
        head = self.header
        lines = [
            "Verbose:",
            f"  log_offset:        {self.sb.log_offset}",
            f"  log_len:           {self.sb.log_len}",
            "  log_entry components:",
            f"      sizeof(log header) {LOG_HEADER_SIZE}",
            f"      sizeof(log_entry)  {LOG_ENTRY_SIZE}",
            f"          sizeof(mkdir)     {_SIZEOF_MKDIR}",
            f"          sizeof(file_meta) {_SIZEOF_FILE_META}",
            f"              sizeof(fmap)    {_SIZEOF_FMAP}",
            f"                  sizeof(interleaved_ext[{MAX_INTERLEAVED_EXTENTS}]): "
            f"{_SIZEOF_INTERLEAVED_EXT}",
            f"                  sizeof(famfs_simple_ext[{MAX_SIMPLE_EXTENTS}]): "
            f"{_SIZEOF_SIMPLE_EXT}",
            f"  last_log_index:    {head.last_index}",
            f"  usable log size:   {LOG_HEADER_SIZE + LOG_ENTRY_SIZE * head.last_index}",
            f"  sizeof(struct famfs_log_file_meta): {_SIZEOF_FILE_META}",
            "",
        ]
        if self.nodes:
            lines.append("Entries:")
            for node in sorted(self.nodes, key=lambda n: -1 if n.index is None else n.index):
                idx = "-" if node.index is None else str(node.index)
                name = printable(node.relpath)
                if isinstance(node, File):
                    lines.append(f"  {idx:>6} file {name} size {node.size} mode "
                                 f"{node.mode:04o} uid {node.uid} gid {node.gid}")
                elif isinstance(node, Directory):
                    lines.append(f"  {idx:>6} dir  {name} mode {node.mode:04o} "
                                 f"uid {node.uid} gid {node.gid}")
            lines.append("")
        return lines

    def _buckets(self) -> list[str]:
        au = self.sb.alloc_unit
        lines = ["Stripe bucket info:",
                 f"  Wasted overhang: {self.overhang} bytes ({self.overhang // au} au)"]
        for i, b in enumerate(self.buckets):
            # The reference counts each bucket's used bytes twice here, and never fills in the
            # smallest fragment; printed as it prints them, so the two outputs compare.
            lines += [f"  Bitmap range {i}",
                      f"    Size:   {b.size}",
                      f"    In use: {2 * b.used}",
                      f"    Free:   {b.free}",
                      f"    Free fragments: {b.free_fragments}",
                      f"    Largest frag:   {b.largest_fragment}",
                      "    Smallest frag:  0"]
        return lines


def _f32(x: float) -> float:
    """`x` rounded to a C float, as the reference computes its ratios."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _f32_div(a: float, b: float) -> float:
    """(float)a / (float)b in C: inf when only b is 0, -nan when both are."""
    fa, fb = _f32(a), _f32(b)
    if fb == 0:
        return float("nan") if fa == 0 else float("inf")
    return _f32(fa / fb)


def _fmt(x: float, digits: int) -> str:
    if x != x:
        return "-nan"  # glibc's rendering of 0.0f / 0.0f
    if x == float("inf"):
        return "inf"
    return f"{x:.{digits}f}"


def _fmt1(x: float) -> str:
    return _fmt(x, 1)


def _fmt2(x: float) -> str:
    return _fmt(x, 2)


def _g(n: int) -> str:
    return _fmt2(_f32(_f32(n) / _GIB)) + "G"


def buckets_of(used: list[tuple[int, int]], aus: int, nbuckets: int, alloc_unit: int
               ) -> tuple[list[Bucket], int]:
    """Split a device of `aus` AUs, whose `used` runs are sorted (first AU, end AU) pairs, into
    `nbuckets` equal ranges; returns them and the overhang in bytes (AUs past the last whole
    bucket)."""
    nau = aus // nbuckets
    out = []
    for i in range(nbuckets):
        lo, hi = i * nau, (i + 1) * nau
        in_use = 0
        gaps = []
        pos = lo
        for first, end in used:
            first, end = max(first, lo), min(end, hi)
            if first >= end:
                continue
            if first > pos:
                gaps.append(first - pos)
            in_use += end - first
            pos = max(pos, end)
        if pos < hi:
            gaps.append(hi - pos)
        out.append(Bucket(size=nau * alloc_unit, used=in_use * alloc_unit,
                          free_fragments=len(gaps),
                          largest_fragment=max(gaps, default=0) * alloc_unit))
    return out, (aus - nau * nbuckets) * alloc_unit


def report_of(fs: Filesystem, keep_nodes: bool = False, nbuckets: int = 0) -> FsckReport:
    """The fsck report of an open, replayed filesystem (with bucket statistics of device 0
    when `nbuckets` > 0). Counts come from the namespace: no node is made unless
    `keep_nodes`."""
    ns = fs.namespace
    problems = list(fs.problems)
    space = fs.allocator.maps[0]
    buckets, overhang = (buckets_of(space.runs(), space.aus, nbuckets, fs.sb.alloc_unit)
                         if nbuckets > 0 else ([], 0))
    return FsckReport(
        device=fs.path, sb=fs.sb, header=fs.log.header(), files=ns.files,
        directories=ns.directories, file_bytes=ns.file_bytes,
        allocated=fs.allocator.used(), capacity=fs.allocator.capacity(),
        device_capacity=fs.sb.device_size,
        bitmap_capacity=sum(m.aus for m in fs.allocator.maps.values()) * fs.sb.alloc_unit,
        role="Owner" if fs.is_master() else "Client",
        collisions=list(fs.collisions), conflicts=list(fs.namespace.conflicts),
        problems=problems, nodes=ns.walk() if keep_nodes else [], buckets=buckets,
        overhang=overhang, devices=_device_reports(fs, problems),
    )


def _device_reports(fs: Filesystem, problems: list[str]) -> list[DeviceReport]:
    """Each device's figures; a device this host cannot find is reported as such (the log is
    complete without it), one whose superblock does not match the log is a problem."""
    au = fs.sb.alloc_unit
    out = []
    for member in fs.devices:
        path: str | None = None
        state = "ok"
        try:
            path = fs.devices.path(member.index)
        except MissingDeviceError:
            state = "not found on this host"
        except FamfsError as exc:
            state = f"unusable: {exc}"
            problems.append(f"device {member.index} (UUID {member.uuid}): {exc}")
        out.append(DeviceReport(
            index=member.index, uuid=member.uuid, capacity=fs.allocator.sizes[member.index],
            used=fs.allocator.maps[member.index].used() * au,
            collisions=sum(1 for c in fs.collisions if c.devindex == member.index),
            path=path, state=state))
    return out


def fsck(path: str, keep_nodes: bool = False, nbuckets: int = 0) -> FsckReport:
    """Check the famfs on image or device `path` (read-only). Raises CorruptError (a FamfsError)
    naming the superblock, the log header or the log entry that fails its checks. A secondary
    device's primary is found by its UUID and checked instead (MissingDeviceError if this host
    has no such primary)."""
    try:
        fs = Filesystem(path, writable=False)
    except SecondaryDeviceError as exc:
        primary = Resolver(exc.fs_uuid).resolve(exc.primary_uuid, 0)  # type: ignore[arg-type]
        with Filesystem(primary, writable=False) as fs:
            index = next((m.index for m in fs.devices if m.uuid == exc.dev_uuid), None)
            which = f"device {index}" if index is not None else "a device no log entry names"
            report = report_of(fs, keep_nodes, nbuckets)
            report.notes.append(f"{path} is {which} (UUID {exc.dev_uuid}) of famfs "
                                f"{exc.fs_uuid}; checking its primary {primary}")
            return report
    with fs:
        return report_of(fs, keep_nodes, nbuckets)
