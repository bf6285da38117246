"""File maps: which device bytes hold a file's bytes.

A file is either a list of simple extents laid end to end, or one interleaved extent whose
strips are filled round-robin in chunks. This module encodes, decodes and checks maps; resolving
file offsets is the mapping layer's (famfs.mapping.MappedFile.spans), from the same rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from famfs.errors import CorruptError
from famfs.omf.layout import (
    MAX_DEVICES,
    MAX_SIMPLE_EXTENTS,
    MAX_STRIPS,
    SUPERBLOCK_REGION,
    is_power_of_two,
)


class ExtentType(IntEnum):
    SIMPLE = 0
    INTERLEAVE = 1


@dataclass(frozen=True)
class SimpleExtent:
    """`length` bytes at byte `offset` of device `devindex`."""

    devindex: int
    offset: int
    length: int


@dataclass(frozen=True)
class InterleavedExtent:
    """`nstrips` strips filled round-robin, `chunk_size` bytes at a time."""

    chunk_size: int
    strips: tuple[SimpleExtent, ...]

    @property
    def nstrips(self) -> int:
        return len(self.strips)


Extent = SimpleExtent | InterleavedExtent


@dataclass(frozen=True)
class FileMap:
    """A file's map: simple extents end to end, or a single interleaved extent."""

    ext_type: ExtentType
    extents: tuple[SimpleExtent, ...] = ()
    interleave: InterleavedExtent | None = None

    @classmethod
    def simple(cls, extents: list[SimpleExtent] | tuple[SimpleExtent, ...]) -> FileMap:
        return cls(ExtentType.SIMPLE, tuple(extents))

    @classmethod
    def interleaved(cls, chunk_size: int, strips: list[SimpleExtent]) -> FileMap:
        return cls(ExtentType.INTERLEAVE, (), InterleavedExtent(chunk_size, tuple(strips)))

    def all_extents(self) -> tuple[SimpleExtent, ...]:
        """Every simple extent or strip: the device space this map occupies."""
        if self.interleave is not None:
            return self.interleave.strips
        return self.extents

    def capacity(self) -> int:
        """Bytes of file the map can address (for interleave: whole stripes only)."""
        if self.interleave is None:
            exts = self.extents
            if len(exts) == 1:
                return exts[0].length
            return sum(e.length for e in exts)
        il = self.interleave
        if not il.strips:
            return 0
        stripes = min(s.length for s in il.strips) // il.chunk_size
        return stripes * il.chunk_size * il.nstrips


# Reference struct famfs_log_fmap (416 bytes):
#   0 fmap_ext_type u32   4 pad   8 fmap_nextents u32   12 pad
#  16 union { se[16] famfs_simple_extent | ie[1] famfs_interleaved_ext }
# struct famfs_simple_extent: 0 se_devindex u64, 8 se_offset u64, 16 se_len u64
# struct famfs_interleaved_ext: 0 ie_nstrips u64, 8 ie_chunk_size u64, 16 ie_strips[16]
_FMAP_HEAD = struct.Struct("<I4xI4x")
_SIMPLE = struct.Struct("<QQQ")
_IEXT_HEAD = struct.Struct("<QQ")
_SIMPLE_RUNS = [struct.Struct("<" + "QQQ" * n) for n in range(max(MAX_SIMPLE_EXTENTS,
                                                                  MAX_STRIPS) + 1)]
FMAP_SIZE = 416
MAX_CHUNK_SIZE = 1 << 31
"""Largest interleave chunk size served: GET_FMAP carries the chunk size in 32 bits, and chunk
sizes are powers of two."""


def encode_fmap(fmap: FileMap) -> bytes:
    """The 416 on-media bytes of `fmap`, unused bytes zero."""
    out = bytearray(FMAP_SIZE)
    if fmap.interleave is None:
        _FMAP_HEAD.pack_into(out, 0, ExtentType.SIMPLE, len(fmap.extents))
        for i, ext in enumerate(fmap.extents):
            _SIMPLE.pack_into(out, 16 + i * 24, ext.devindex, ext.offset, ext.length)
    else:
        il = fmap.interleave
        _FMAP_HEAD.pack_into(out, 0, ExtentType.INTERLEAVE, 1)
        _IEXT_HEAD.pack_into(out, 16, il.nstrips, il.chunk_size)
        for i, ext in enumerate(il.strips):
            _SIMPLE.pack_into(out, 32 + i * 24, ext.devindex, ext.offset, ext.length)
    return bytes(out)


def decode_fmap(buf: bytes | memoryview, offset: int, index: int) -> FileMap:
    """Decode the fmap at `buf[offset:]` of log entry `index` (counts checked, values not)."""
    ext_type, count = _FMAP_HEAD.unpack_from(buf, offset)
    if ext_type == ExtentType.SIMPLE:
        if not 1 <= count <= MAX_SIMPLE_EXTENTS:
            raise CorruptError("log entry", "fmap.nextents",
                               f"{count} simple extents (1..{MAX_SIMPLE_EXTENTS} allowed)", index)
        if count == 1:
            return FileMap(ExtentType.SIMPLE,
                           (SimpleExtent(*_SIMPLE.unpack_from(buf, offset + 16)),))
        values = _SIMPLE_RUNS[count].unpack_from(buf, offset + 16)
        exts = tuple(SimpleExtent(values[i], values[i + 1], values[i + 2])
                     for i in range(0, 3 * count, 3))
        return FileMap(ExtentType.SIMPLE, exts)
    if ext_type == ExtentType.INTERLEAVE:
        if count != 1:
            raise CorruptError("log entry", "fmap.nextents",
                               f"{count} interleaved extents (exactly 1 allowed)", index)
        nstrips, chunk = _IEXT_HEAD.unpack_from(buf, offset + 16)
        if not 1 <= nstrips <= MAX_STRIPS:
            raise CorruptError("log entry", "fmap.ie_nstrips",
                               f"{nstrips} strips (1..{MAX_STRIPS} allowed)", index)
        values = _SIMPLE_RUNS[nstrips].unpack_from(buf, offset + 32)
        strips = tuple(SimpleExtent(values[i], values[i + 1], values[i + 2])
                       for i in range(0, 3 * nstrips, 3))
        return FileMap(ExtentType.INTERLEAVE, (), InterleavedExtent(chunk, strips))
    raise CorruptError("log entry", "fmap.ext_type", f"unknown extent type {ext_type}", index)


def plainly_valid(devindex: int, offset: int, length: int, alloc_unit: int, dev0: int,
                  data_start: int) -> bool:
    """Whether an extent passes every check of `check_fmap` at a glance: on device 0, not
    empty, aligned, and inside [data_start, dev0). False means: check it in full."""
    return (devindex == 0 and length > 0 and data_start <= offset and offset + length <= dev0
            and offset > 0 and not offset % alloc_unit and not length % alloc_unit)


def check_fmap(fmap: FileMap, size: int, index: int, alloc_unit: int,
               device_sizes: dict[int, int], data_start: int = 0) -> None:
    """Check an fmap's values against the file `size` and the known devices.

    `device_sizes` maps each known device index to the bytes that may be addressed on it;
    extents on device 0 must start at or after `data_start` (past the superblock and log), on
    every other device past its superblock region.
    Raises CorruptError naming entry `index` and the field.
    """
    if fmap.interleave is not None:
        il = fmap.interleave
        if not is_power_of_two(il.chunk_size) or il.chunk_size % alloc_unit:
            raise CorruptError("log entry", "fmap.ie_chunk_size",
                               f"{il.chunk_size:#x} is not a power of two multiple of the "
                               f"allocation unit", index)
        if il.strips and min(s.length for s in il.strips) < il.chunk_size:
            raise CorruptError("log entry", "fmap.ie_strips",
                               f"a strip is shorter than one chunk ({il.chunk_size:#x} bytes)",
                               index)
        if il.chunk_size > MAX_CHUNK_SIZE:
            raise CorruptError("log entry", "fmap.ie_chunk_size",
                               f"{il.chunk_size:#x} is larger than {MAX_CHUNK_SIZE:#x}, the "
                               f"largest chunk a file map can carry", index)
        prefix = "fmap.ie_strips"
    else:
        prefix = "fmap.se"
    dev0 = device_sizes.get(0, 0)
    for i, ext in enumerate(fmap.all_extents()):
        off, length = ext.offset, ext.length
        if plainly_valid(ext.devindex, off, length, alloc_unit, dev0, data_start):
            continue
        name = f"{prefix}[{i}]"
        if ext.devindex >= MAX_DEVICES or ext.devindex not in device_sizes:
            raise CorruptError("log entry", f"{name}.devindex",
                               f"device index {ext.devindex} is not a device of this "
                               f"filesystem", index)
        if ext.length == 0:
            raise CorruptError("log entry", f"{name}.len", "empty extent", index)
        if ext.offset == 0:
            raise CorruptError("log entry", f"{name}.offset", "offset 0 is never valid", index)
        if ext.offset % alloc_unit:
            raise CorruptError("log entry", f"{name}.offset",
                               f"{ext.offset:#x} is not aligned to the allocation unit", index)
        if ext.length % alloc_unit:
            raise CorruptError("log entry", f"{name}.len",
                               f"{ext.length:#x} is not a multiple of the allocation unit", index)
        if ext.devindex == 0 and ext.offset < data_start:
            raise CorruptError("log entry", f"{name}.offset",
                               f"{ext.offset:#x} lies in the superblock or log (files start at "
                               f"{data_start:#x})", index)
        if ext.devindex and ext.offset < SUPERBLOCK_REGION:
            raise CorruptError("log entry", f"{name}.offset",
                               f"{ext.offset:#x} lies in the superblock region of device "
                               f"{ext.devindex}", index)
        dev_size = device_sizes[ext.devindex]
        if ext.offset + ext.length > dev_size:
            raise CorruptError("log entry", name,
                               f"[{ext.offset:#x}, {ext.offset + ext.length:#x}) lies outside "
                               f"device {ext.devindex} ({dev_size:#x} bytes)", index)
    if fmap.capacity() < size:
        raise CorruptError("log entry", "fmap",
                           f"extents hold {fmap.capacity():#x} bytes, less than the file size "
                           f"{size:#x}", index)
