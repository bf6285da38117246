"""A file's parsed map: the cached result of a format's setup, resolved without round trips."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from famfs.mapping.famfs_formats import INTERLEAVE, SIMPLE
from famfs.mapping.formats import MappingFormat, MetaView, get_format
from famfs.mapping.iomap import IoMap, MappingError
from famfs.omf.fmap import ExtentType
from famfs.omf.layout import MAX_DEVICES

if TYPE_CHECKING:
    import numpy as np

_EXT_TYPE = struct.Struct("<4xI")


class MappedFile:
    """A map parsed once by `format`: `size` in bytes, the device indices it uses, `begin()`
    to resolve one offset (a result may be shorter than asked), and `spans()`, the loop over
    begin() that every reader and writer of file bytes uses (the kernel's iomap_iter)."""

    __slots__ = ("format", "meta", "devices", "size", "_begin")

    def __init__(self, fmt: MappingFormat, meta: bytes, devices: frozenset[int]) -> None:
        bad = sorted(d for d in devices if not 0 <= d < MAX_DEVICES)
        if bad:
            raise MappingError(f"{fmt.name}: device index {bad[0]} is outside the "
                               f"{MAX_DEVICES}-slot device table")
        self.format = fmt
        self.meta = MetaView(meta)
        self.devices = frozenset(devices)
        self.size = int(fmt.size(self.meta))
        self._begin = fmt.begin

    def begin(self, pos: int, length: int = 0, flags: int = 0) -> IoMap:
        """The mapping covering byte `pos`, at most `length` bytes (0: as far as contiguous).
        pos outside [0, size) raises MappingError."""
        return self._begin(self.meta, pos, length, flags)

    def resolve_many(self, positions: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(device, address, contiguous bytes) of every offset in `positions` at once."""
        return self.format.begin_many(self.meta, positions)

    def spans(self, pos: int = 0, length: int | None = None, flags: int = 0
              ) -> Iterator[IoMap]:
        """The runs of file bytes [pos, pos + length) (to the end of the file by default),
        clipped to the file size, in file order: each an IoMap starting exactly where the
        previous one ended, contiguous on one device. A position before 0 raises
        MappingError; nothing is yielded at or past the end of the file."""
        if pos < 0:
            raise MappingError(f"{self.format.name}: negative file offset {pos}")
        end = self.size if length is None else min(self.size, pos + length)
        begin, meta = self._begin, self.meta
        while pos < end:
            m = begin(meta, pos, end - pos, flags)
            skip = pos - m.offset
            n = min(m.offset + m.length, end) - pos
            if skip < 0 or n <= 0:
                raise MappingError(f"{self.format.name}: begin({pos:#x}) returned "
                                   f"[{m.offset:#x}, {m.end:#x}), which does not cover it")
            if skip or n != m.length:
                m = IoMap(pos, n, m.addr + skip, m.type, m.flags, m.dev)
            yield m
            pos += n

    def __repr__(self) -> str:
        return (f"MappedFile(format={self.format.name!r}, size={self.size}, "
                f"devices={sorted(self.devices)})")


def format_for_fmap(blob: bytes | memoryview) -> MappingFormat:
    """The built-in format that parses a GET_FMAP reply, chosen by its ext_type."""
    if len(blob) < _EXT_TYPE.size:
        raise MappingError(f"GET_FMAP reply: field header: {len(blob)} bytes, too short")
    (ext_type,) = _EXT_TYPE.unpack_from(blob, 0)
    if ext_type == ExtentType.SIMPLE:
        return SIMPLE
    if ext_type == ExtentType.INTERLEAVE:
        return INTERLEAVE
    raise MappingError(f"GET_FMAP reply: field ext_type: {ext_type} is not SIMPLE or INTERLEAVE")


def map_file(blob: bytes | memoryview, format: str | None = None) -> MappedFile:
    """Parse `blob` once with the named format (default: a GET_FMAP reply, by its ext_type).
    A bad blob raises MappingError; nothing is kept."""
    fmt = format_for_fmap(blob) if format is None else get_format(format)
    meta, devices = fmt.setup(bytes(blob))
    return MappedFile(fmt, meta, devices)
