"""Checking a famfs: superblock, log header, every entry, allocation collisions, name conflicts.

`fsck(path)` replays the whole log read-only and returns an `FsckReport`; it never writes. An
invalid superblock, log header or entry raises the CorruptError that names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from famfs.alloc import Collision
from famfs.fs.filesystem import Filesystem
from famfs.fs.namespace import Conflict, Directory, File, Node
from famfs.omf.log import LogHeader, entry_offset
from famfs.omf.superblock import Superblock


@dataclass
class FsckReport:
    """What fsck found. Sizes in bytes."""

    device: str
    sb: Superblock
    header: LogHeader
    files: int
    directories: int
    file_bytes: int
    allocated: int
    capacity: int
    collisions: list[Collision] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What is wrong with the filesystem as a whole (a device shorter than its superblock)."""

    @property
    def ok(self) -> bool:
        """No problems, no cross-links and no namespace conflicts."""
        return not self.problems and not self.collisions and not self.conflicts

    @property
    def slots_used(self) -> int:
        return self.header.next_index

    @property
    def slots_free(self) -> int:
        return self.header.slots - self.header.next_index

    def render(self, human: bool = False, verbose: bool = False) -> str:
        """The report as text, sizes in bytes (or K/M/G with `human`)."""
        size = _human if human else _plain
        sb, head = self.sb, self.header
        log_used = entry_offset(head.next_index)
        lines = [
            "famfs superblock:",
            f"  device:            {self.device}",
            f"  recorded name:     {sb.device_name}",
            f"  filesystem UUID:   {sb.fs_uuid}",
            f"  system UUID:       {sb.system_uuid}",
            f"  version:           {sb.version} (OMF {sb.omf_major}.{sb.omf_minor})",
            f"  alloc unit:        {size(sb.alloc_unit)}",
            "famfs log:",
            f"  log size:          {size(sb.log_len)}",
            f"  log slots used:    {head.next_index} of {head.slots}",
            f"  log slots free:    {self.slots_free}",
            f"  log bytes in use:  {size(log_used)}",
            f"  files:             {self.files}",
            f"  directories:       {self.directories}",
            "capacity:",
            f"  device capacity:   {size(self.capacity)}",
            f"  space used:        {size(self.allocated)} (superblock and log included)",
            f"  space free:        {size(self.capacity - self.allocated)}",
            f"  sum of file sizes: {size(self.file_bytes)}",
            f"  percent used:      {100.0 * self.allocated / max(self.capacity, 1):.1f}%",
        ]
        if self.collisions:
            lines.append(f"allocation collisions (cross-links): {len(self.collisions)}")
            for c in self.collisions:
                lines.append(f"  log entry {c.entry_index}: device {c.devindex} offset "
                             f"{c.offset:#x} is already used by an earlier entry")
        else:
            lines.append("no allocation collisions")
        if self.conflicts:
            lines.append(f"namespace conflicts: {len(self.conflicts)}")
            for n in self.conflicts:
                lines.append(f"  log entry {n.index}: {n.relpath}: {n.reason}")
        else:
            lines.append("no namespace conflicts")
        for problem in self.problems:
            lines.append(f"problem: {problem}")
        if verbose:
            lines.append("entries:")
            for node in sorted(self.nodes, key=lambda n: -1 if n.index is None else n.index):
                idx = "-" if node.index is None else str(node.index)
                if isinstance(node, File):
                    lines.append(f"  {idx:>6} file {node.relpath} size {node.size} mode "
                                 f"{node.mode:04o} uid {node.uid} gid {node.gid}")
                elif isinstance(node, Directory):
                    lines.append(f"  {idx:>6} dir  {node.relpath} mode {node.mode:04o} "
                                 f"uid {node.uid} gid {node.gid}")
        return "\n".join(lines) + "\n"


def _plain(n: int) -> str:
    return str(n)


def _human(n: int) -> str:
    for unit, scale in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def report_of(fs: Filesystem, keep_nodes: bool = False) -> FsckReport:
    """The fsck report of an open, replayed filesystem."""
    nodes = fs.namespace.walk()
    files = [n for n in nodes if isinstance(n, File)]
    return FsckReport(
        device=fs.path, sb=fs.sb, header=fs.log.header(), files=len(files),
        directories=len(nodes) - len(files), file_bytes=sum(f.size for f in files),
        allocated=fs.allocator.used(), capacity=fs.allocator.capacity(),
        collisions=list(fs.collisions), conflicts=list(fs.namespace.conflicts),
        nodes=nodes if keep_nodes else [], problems=list(fs.problems),
    )


def fsck(path: str, keep_nodes: bool = False) -> FsckReport:
    """Check the famfs on image or device `path` (read-only). Raises CorruptError (a FamfsError)
    naming the superblock, the log header or the log entry that fails its checks."""
    with Filesystem(path, writable=False) as fs:
        return report_of(fs, keep_nodes)
