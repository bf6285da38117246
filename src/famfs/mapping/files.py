"""File bytes of a replayed famfs, on the host that has its devices: where each byte of a
logged file lies, through the file's map (MappedFile.spans), and reading and writing them.

This is what the command line and copying use on DEVICE:PATH files (`famfs cp`, `creat -r`,
`verify`): the same runs as the span iterator of the mount and `famfs.open`, over the
devices the filesystem has opened (famfs.fs.devices; a missing one is MissingDeviceError naming it).
"""

from __future__ import annotations

from famfs.errors import UsageError
from famfs.fs.copy import Runs, pieces_of_runs
from famfs.fs.filesystem import Filesystem
from famfs.fs.namespace import File
from famfs.mapping.mapped import MappedFile, map_file
from famfs.mapping.wire import encode_get_fmap

Pieces = list[tuple[int, memoryview]]
"""(file offset, device view) runs of a file, in file order."""


def mapped_of(node: File) -> MappedFile:
    """The parsed map of logged file `node` (its GET_FMAP reply, parsed by its format)."""
    return map_file(encode_get_fmap(node.entry))


def file_runs(fs: Filesystem, node: File, offset: int = 0, length: int | None = None) -> Runs:
    """(file offset, device, device offset, bytes) of every run of file bytes
    [offset, offset + length) of `node` (clipped to its size), in file order.

    A simple map's runs are its extents laid end to end, as the famfs_simple format resolves
    them; they are cut straight from the extents of the node's entry (checked against the
    devices when it was logged or reserved), with no GET_FMAP reply built and parsed."""
    devices = fs.devices
    entry = node.entry
    fmap = entry.fmap
    if fmap.interleave is None and offset >= 0:
        end = entry.size if length is None else min(entry.size, offset + length)
        extents = fmap.extents
        if len(extents) == 1 and offset == 0:
            ext = extents[0]
            n = min(end, ext.length)
            return [(0, devices.device(ext.devindex), ext.offset, n)] if n > 0 else []
        out = []
        start = 0
        for ext in extents:
            if start >= end:
                break
            lo, hi = max(offset, start), min(end, start + ext.length)
            if lo < hi:
                out.append((lo, devices.device(ext.devindex), ext.offset + lo - start, hi - lo))
            start += ext.length
        return out
    return [(m.offset, devices.device(m.dev), m.addr, m.length)
            for m in mapped_of(node).spans(offset, length)]


def file_pieces(fs: Filesystem, node: File, offset: int = 0,
                length: int | None = None) -> Pieces:
    """(file offset, device view) of every run of file bytes [offset, offset + length) of
    `node` (clipped to its size), in file order (see `file_runs`). The views are writable
    when `fs` is."""
    return pieces_of_runs(file_runs(fs, node, offset, length))


def read_file(fs: Filesystem, node: File, offset: int, length: int) -> bytes:
    """Up to `length` bytes of `node` from `offset` (short at the end of the file)."""
    return b"".join(bytes(view) for _, view in file_pieces(fs, node, offset, length))


def write_file(fs: Filesystem, node: File, offset: int, data: bytes | memoryview) -> int:
    """Write `data` at `offset` of `node`, clipped to the file size; returns the bytes
    written. Devices are written with pwrite, so a full backing store is an error, never a
    fault. The caller flushes (Filesystem.flush_file)."""
    if not fs.device.writable:
        raise UsageError(f"{node.relpath}: {fs.path} was opened read-only")
    view = memoryview(data).cast("B")
    done = 0
    for m in mapped_of(node).spans(offset, len(view)):
        fs.devices.device(m.dev).pwrite(m.addr, view[done:done + m.length])
        done += m.length
    return done
