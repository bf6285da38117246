"""The built-in famfs mapping formats: simple extents and interleaved extents.

Both take a GET_FMAP reply as their blob (extents aligned to pages at least, so that files of a
famfs with a 4 KiB allocation unit are served too; the kernel's own rule is 2 MiB) and cache a
compact table:

- `famfs_simple`: extents laid end to end. When every extent but the last has the same
  power-of-two length, the extent holding an offset is found by a shift (O(1)); otherwise by a
  binary search over the extent start offsets (O(log n)).
- `famfs_interlv`: strips filled round-robin, `chunk_size` bytes at a time; an offset is
  resolved by arithmetic (O(1)) inside its interleaved extent.
- `famfs_unrolled`: the simple-extent map the newest kernel revision takes (wire.
  decode_simple_fmap), up to 524,288 extents: an interleaved file unrolled into uniform
  chunk-size extents, resolved by a shift (O(1)) like `famfs_simple`, from the same cached
  table, built with NumPy.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from famfs.mapping.formats import MappingFormat, MetaView, register_format
from famfs.mapping.iomap import IoMap, IoMapType, MappingError
from famfs.mapping.wire import PAGE_SIZE, GetFmapReply, decode_get_fmap, decode_simple_fmap
from famfs.omf.fmap import ExtentType

if TYPE_CHECKING:
    import numpy as np

SIMPLE_NAME = "famfs_simple"
INTERLEAVE_NAME = "famfs_interlv"
UNROLLED_NAME = "famfs_unrolled"
_MAPPED = int(IoMapType.MAPPED)
WALK = 0
"""Shift value meaning "search the extent starts" (no common power-of-two length)."""

# Simple metadata: header (file_size u64, nextents u32, shift u32), then per extent
# (file start u64, devindex u64, device offset u64, length u64).
_S_HDR = struct.Struct("<QII")
_S_EXT = struct.Struct("<QQQQ")
# Interleave metadata: header (file_size u64, niext u32, pad u32), then per interleaved extent
# (file start u64, nbytes u64, chunk_size u64, nstrips u64, first strip record u64), then the
# strip records (devindex u64, device offset u64, length u64).
_I_HDR = struct.Struct("<QI4x")
_I_EXT = struct.Struct("<QQQQQ")
_I_STRIP = struct.Struct("<QQQ")


def _past_end(pos: int, size: int) -> MappingError:
    return MappingError(f"file offset {pos:#x} is outside the file ({size:#x} bytes)")


def _check_reply_type(reply: GetFmapReply, want: ExtentType, name: str) -> None:
    if reply.ext_type != want:
        raise MappingError(f"{name}: the blob holds a {reply.ext_type.name} map, not "
                           f"{want.name}")


def simple_meta(size: int, extents: Sequence[tuple[int, int, int]]) -> bytes:
    """Metadata of the simple format for (devindex, device offset, length) extents."""
    n = len(extents)
    lengths = {length for _, _, length in extents[:-1]}
    shift = WALK
    if n == 1:
        shift = 63
    elif len(lengths) == 1:
        common = lengths.pop()
        if common & (common - 1) == 0:
            shift = common.bit_length() - 1
    out = bytearray(_S_HDR.pack(size, n, shift))
    start = 0
    for dev, addr, length in extents:
        out += _S_EXT.pack(start, dev, addr, length)
        start += length
    return bytes(out)


class SimpleFormat(MappingFormat):
    """famfs simple extents (GET_FMAP ext_type SIMPLE)."""

    name = SIMPLE_NAME

    def setup(self, blob: bytes) -> tuple[bytes, frozenset[int]]:
        reply = decode_get_fmap(blob, align=PAGE_SIZE)
        _check_reply_type(reply, ExtentType.SIMPLE, self.name)
        meta = simple_meta(reply.file_size, [(e.devindex, e.offset, e.length)
                                             for e in reply.extents])
        return meta, reply.devices

    def size(self, meta: MetaView) -> int:
        return meta.unpack(_S_HDR, 0)[0]

    def begin(self, meta: MetaView, pos: int, length: int, flags: int) -> IoMap:
        size, n, shift = meta.unpack(_S_HDR, 0)
        if pos < 0 or pos >= size:
            raise _past_end(pos, size)
        if shift:
            i = pos >> shift
            if i >= n:
                i = n - 1
        else:
            lo, hi = 0, n - 1
            while lo < hi:
                mid = (lo + hi + 1) >> 1
                if meta.unpack(_S_EXT, 16 + mid * 32)[0] <= pos:
                    lo = mid
                else:
                    hi = mid - 1
            i = lo
        start, dev, addr, ext_len = meta.unpack(_S_EXT, 16 + i * 32)
        delta = pos - start
        run = min(ext_len - delta, size - pos)
        if 0 < length < run:
            run = length
        return IoMap(pos, run, addr + delta, _MAPPED, 0, dev)

    def begin_many(self, meta: MetaView, positions: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        size, n, shift = meta.unpack(_S_HDR, 0)
        pos = np.asarray(positions, dtype=np.int64)
        _check_positions(pos, size)
        table = meta.array(np.uint64, 16, n * 4).reshape(n, 4).view(np.int64)
        if shift:
            # Every extent starts at index << shift (only the last may differ in length).
            idx = np.minimum(pos >> shift, n - 1)
            delta = pos - (idx << shift)
        else:
            idx = np.searchsorted(table[:, 0], pos, side="right") - 1
            delta = pos - table[:, 0].take(idx)
        dev = np.ascontiguousarray(table[:, 1]).take(idx)
        addr = np.ascontiguousarray(table[:, 2]).take(idx)
        addr += delta
        run = np.ascontiguousarray(table[:, 3]).take(idx)
        run -= delta
        np.minimum(run, size - pos, out=run)
        return dev, addr, run


def _check_positions(pos: np.ndarray, size: int) -> None:
    if pos.size and (int(pos.min()) < 0 or int(pos.max()) >= size):
        bad = int(pos.min()) if int(pos.min()) < 0 else int(pos.max())
        raise _past_end(bad, size)


def interleave_meta(size: int,
                    iexts: Sequence[tuple[int, int, Sequence[tuple[int, int, int]]]]) -> bytes:
    """Metadata of the interleave format for (chunk_size, nbytes, strips) interleaved extents,
    each strip (devindex, device offset, length)."""
    out = bytearray(_I_HDR.pack(size, len(iexts)))
    strip_base = _I_HDR.size + _I_EXT.size * len(iexts)
    start = 0
    nstrip = 0
    strips_out = bytearray()
    for chunk, nbytes, strips in iexts:
        out += _I_EXT.pack(start, nbytes, chunk, len(strips),
                           strip_base + nstrip * _I_STRIP.size)
        for dev, addr, length in strips:
            strips_out += _I_STRIP.pack(dev, addr, length)
        nstrip += len(strips)
        start += nbytes
    return bytes(out + strips_out)


class InterleaveFormat(MappingFormat):
    """famfs interleaved extents (GET_FMAP ext_type INTERLEAVE)."""

    name = INTERLEAVE_NAME

    def setup(self, blob: bytes) -> tuple[bytes, frozenset[int]]:
        reply = decode_get_fmap(blob, align=PAGE_SIZE)
        _check_reply_type(reply, ExtentType.INTERLEAVE, self.name)
        meta = interleave_meta(reply.file_size, [
            (il.chunk_size, il.nbytes, [(s.devindex, s.offset, s.length) for s in il.strips])
            for il in reply.interleaves])
        return meta, reply.devices

    def size(self, meta: MetaView) -> int:
        return meta.unpack(_I_HDR, 0)[0]

    def begin(self, meta: MetaView, pos: int, length: int, flags: int) -> IoMap:
        size, niext = meta.unpack(_I_HDR, 0)
        if pos < 0 or pos >= size:
            raise _past_end(pos, size)
        off = 16
        start, nbytes, chunk, nstrips, strips = meta.unpack(_I_EXT, off)
        while pos >= start + nbytes:
            off += 40
            if off >= 16 + 40 * niext:
                raise MappingError(f"file offset {pos:#x} is past the interleaved extents")
            start, nbytes, chunk, nstrips, strips = meta.unpack(_I_EXT, off)
        rel = pos - start
        chunk_no, within = divmod(rel, chunk)
        stripe, strip = divmod(chunk_no, nstrips)
        dev, addr, strip_len = meta.unpack(_I_STRIP, strips + strip * 24)
        strip_off = stripe * chunk + within
        if strip_off >= strip_len:
            raise MappingError(f"file offset {pos:#x} falls past the end of strip {strip}")
        run = min(chunk - within, start + nbytes - pos, size - pos)
        if 0 < length < run:
            run = length
        return IoMap(pos, run, addr + strip_off, _MAPPED, 0, dev)

    def begin_many(self, meta: MetaView, positions: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        size, niext = meta.unpack(_I_HDR, 0)
        pos = np.asarray(positions, dtype=np.int64)
        _check_positions(pos, size)
        iext = meta.array(np.uint64, 16, niext * 5).reshape(niext, 5).view(np.int64)
        nstrip_total = int(iext[:, 3].sum())
        strips = meta.array(np.uint64, int(iext[0, 4]), nstrip_total * 3)
        strips = strips.reshape(nstrip_total, 3).view(np.int64)
        if niext == 1:
            start, nbytes, chunk, nstrips = (int(v) for v in iext[0, :4])
            first = 0
        else:
            k = np.searchsorted(iext[:, 0], pos, side="right") - 1
            start, nbytes, chunk, nstrips = (iext[k, c] for c in range(4))
            first = (iext[k, 4] - iext[0, 4]) // 24
            if np.any(pos >= start + nbytes):
                raise MappingError("a file offset is past the interleaved extents")
        rel = pos - start
        if niext == 1 and chunk & (chunk - 1) == 0:
            chunk_no, within = rel >> (chunk.bit_length() - 1), rel & (chunk - 1)
        else:
            chunk_no, within = np.divmod(rel, chunk)
        if niext == 1 and nstrips & (nstrips - 1) == 0:
            stripe, strip = chunk_no >> (nstrips.bit_length() - 1), chunk_no & (nstrips - 1)
        else:
            stripe, strip = np.divmod(chunk_no, nstrips)
        row = strip + first
        strip_off = stripe * chunk + within
        if np.any(strip_off >= np.ascontiguousarray(strips[:, 2]).take(row)):
            raise MappingError("a file offset falls past the end of its strip")
        dev = np.ascontiguousarray(strips[:, 0]).take(row)
        addr = np.ascontiguousarray(strips[:, 1]).take(row)
        addr += strip_off
        run = np.minimum(np.minimum(chunk - within, start + nbytes - pos), size - pos)
        return dev, addr, run


class UnrolledFormat(SimpleFormat):
    """Simple-extent maps of the newest kernel revision (many extents, one wire layout)."""

    name = UNROLLED_NAME

    def setup(self, blob: bytes) -> tuple[bytes, frozenset[int]]:
        import numpy as np

        fmap = decode_simple_fmap(blob, align=PAGE_SIZE)
        lengths = fmap.lengths
        n = len(lengths)
        table = np.empty((n, 4), dtype=np.int64)
        table[0, 0] = 0
        np.cumsum(lengths[:-1], out=table[1:, 0])
        table[:, 1] = fmap.devs
        table[:, 2] = fmap.offsets
        table[:, 3] = lengths
        shift = WALK
        if n == 1:
            shift = 63
        else:
            common = int(lengths[0])
            if common & (common - 1) == 0 and bool(np.all(lengths[:-1] == common)):
                shift = common.bit_length() - 1
        meta = _S_HDR.pack(fmap.file_size, n, shift) + table.view(np.uint64).tobytes()
        return meta, fmap.devices


SIMPLE = register_format(SimpleFormat())
INTERLEAVE = register_format(InterleaveFormat())
UNROLLED = register_format(UnrolledFormat())
