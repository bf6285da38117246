"""GET_FMAP and GET_DAXDEV replies: the bytes a famfs FUSE server sends the kernel.

Encoders build replies from log entries; decoders parse a reply with every rule the kernel
side enforces (bounds checked after every sub-structure, counts and alignment, device indices
inside the table, extents that hold the file). A decoder raises MappingError naming the field;
a rejected blob must never be cached.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from famfs.mapping.iomap import MappingError
from famfs.omf.fmap import ExtentType
from famfs.omf.layout import MAX_DEVICES, MiB
from famfs.omf.log import FileEntry

if TYPE_CHECKING:
    import numpy as np

FMAP_VERSION = 1
MAX_WIRE_EXTENTS = 32
"""Limit on nextents (simple or interleaved) and on nstrips in one reply."""
MAX_WIRE_STRIPS = 32
WIRE_ALIGN = 2 * MiB
"""The kernel's rule: every extent offset and length is a multiple of this."""
PAGE_SIZE = 4096
"""The one chunk size the kernel allows that is not a multiple of WIRE_ALIGN, and the alignment
userspace readers accept (`decode_get_fmap(..., align=PAGE_SIZE)`): a famfs with a 4 KiB
allocation unit, which the reference's checker accepts, has extents aligned to pages only.
Those maps are served by this project's own server and clients; the kernel refuses them."""
DAXDEV_NAME_LEN = 256
MAX_LOFF = (1 << 63) - 1
"""Largest file or device byte offset (the kernel's loff_t is a signed 64-bit integer)."""


class FileType(IntEnum):
    REG = 0
    SUPERBLOCK = 1
    LOG = 2


# struct fuse_famfs_fmap_header (32 bytes):
#   0 file_type u8   1 reserved u8   2 fmap_version u16   4 ext_type u32   8 nextents u32
#  12 reserved0 u32   16 file_size u64   24 reserved1 u64
_HEADER = struct.Struct("<BBHII4xQ8x")
# struct fuse_famfs_simple_ext (24 bytes):
#   0 se_devindex u32   4 reserved u32   8 se_offset u64   16 se_len u64
_SIMPLE = struct.Struct("<I4xQQ")
# struct fuse_famfs_iext (24 bytes), followed by ie_nstrips x fuse_famfs_simple_ext:
#   0 ie_nstrips u32   4 ie_chunk_size u32   8 ie_nbytes u64   16 reserved u64
_IEXT = struct.Struct("<IIQ8x")
# struct fuse_daxdev_out (280 bytes):
#   0 index u16   2 reserved u16   4 reserved2 u32   8 reserved3 u64   16 reserved4 u64
#  24 name[256]
_DAXDEV = struct.Struct("<HHIQQ256s")
HEADER_SIZE = _HEADER.size
EXTENT_SIZE = _SIMPLE.size
DAXDEV_REPLY_SIZE = _DAXDEV.size
assert (HEADER_SIZE, EXTENT_SIZE, _IEXT.size, DAXDEV_REPLY_SIZE) == (32, 24, 24, 280)


@dataclass(frozen=True)
class WireExtent:
    """`length` bytes at byte `offset` of device `devindex`."""

    devindex: int
    offset: int
    length: int


@dataclass(frozen=True)
class WireInterleave:
    """File bytes [start, start + nbytes) spread over `strips`, `chunk_size` bytes at a time."""

    chunk_size: int
    nbytes: int
    strips: tuple[WireExtent, ...]


@dataclass(frozen=True)
class GetFmapReply:
    """A validated GET_FMAP reply. Exactly one of `extents` and `interleaves` is non-empty."""

    file_type: FileType
    ext_type: ExtentType
    file_size: int
    extents: tuple[WireExtent, ...] = ()
    interleaves: tuple[WireInterleave, ...] = ()

    @property
    def devices(self) -> frozenset[int]:
        """Every device index the map uses."""
        exts = self.extents or tuple(s for il in self.interleaves for s in il.strips)
        return frozenset(e.devindex for e in exts)


@dataclass(frozen=True)
class DaxdevReply:
    """Device `index` of the table is the device (or image) at path `name`."""

    index: int
    name: str


def _reject(field: str, detail: str) -> MappingError:
    return MappingError(f"GET_FMAP reply: field {field}: {detail}")


# --- encoders ---------------------------------------------------------------------------------


def _pack_extents(out: bytearray, extents: tuple[WireExtent, ...] | list[WireExtent]) -> None:
    for ext in extents:
        out += _SIMPLE.pack(ext.devindex, ext.offset, ext.length)


def encode_get_fmap(entry: FileEntry) -> bytes:
    """The GET_FMAP reply for the file of log entry `entry` (as the reference server sends it:
    an interleaved map carries the file size in nbytes; an empty interleaved file, whose
    nbytes may not be 0, carries what its strips hold in whole stripes)."""
    fmap = entry.fmap
    out = bytearray()
    if fmap.interleave is None:
        out += _HEADER.pack(FileType.REG, 0, FMAP_VERSION, ExtentType.SIMPLE, len(fmap.extents),
                            entry.size)
        _pack_extents(out, [WireExtent(e.devindex, e.offset, e.length) for e in fmap.extents])
    else:
        il = fmap.interleave
        out += _HEADER.pack(FileType.REG, 0, FMAP_VERSION, ExtentType.INTERLEAVE, 1, entry.size)
        out += _IEXT.pack(il.nstrips, il.chunk_size, entry.size or fmap.capacity())
        _pack_extents(out, [WireExtent(s.devindex, s.offset, s.length) for s in il.strips])
    return bytes(out)


def encode_meta_fmap(file_type: int, offset: int, length: int, size: int) -> bytes:
    """The GET_FMAP reply for a metadata file (`.meta/.superblock`, `.meta/.log`): one simple
    extent of `length` bytes at device-0 byte `offset`, file size `size`."""
    out = bytearray(_HEADER.pack(FileType(file_type), 0, FMAP_VERSION, ExtentType.SIMPLE, 1,
                                 size))
    out += _SIMPLE.pack(0, offset, length)
    return bytes(out)


def encode_fmap_reply(reply: GetFmapReply) -> bytes:
    """The bytes of a GET_FMAP reply structure (no checks: decode_get_fmap checks)."""
    if reply.ext_type == ExtentType.SIMPLE:
        out = bytearray(_HEADER.pack(reply.file_type, 0, FMAP_VERSION, reply.ext_type,
                                     len(reply.extents), reply.file_size))
        _pack_extents(out, reply.extents)
        return bytes(out)
    out = bytearray(_HEADER.pack(reply.file_type, 0, FMAP_VERSION, reply.ext_type,
                                 len(reply.interleaves), reply.file_size))
    for il in reply.interleaves:
        out += _IEXT.pack(len(il.strips), il.chunk_size, il.nbytes)
        _pack_extents(out, il.strips)
    return bytes(out)


def encode_get_daxdev(index: int, name: str) -> bytes:
    """The 280-byte GET_DAXDEV reply naming device `index` by its path `name`."""
    raw = name.encode()
    if not 0 <= index < MAX_DEVICES:
        raise MappingError(f"GET_DAXDEV reply: device index {index} is not in 0..{MAX_DEVICES - 1}")
    if not raw or len(raw) >= DAXDEV_NAME_LEN or b"\0" in raw:
        raise MappingError(f"GET_DAXDEV reply: device name {name!r} must be "
                           f"1..{DAXDEV_NAME_LEN - 1} bytes without NUL")
    return _DAXDEV.pack(index, 0, 0, 0, 0, raw)


# --- decoders ---------------------------------------------------------------------------------


def _need(blob: bytes | memoryview, end: int, what: str) -> None:
    if end > len(blob):
        raise _reject(what, f"ends at byte {end}, past the end of the {len(blob)}-byte reply")


def _extent(blob: bytes | memoryview, pos: int, name: str, align: int) -> WireExtent:
    _need(blob, pos + EXTENT_SIZE, name)
    dev, offset, length = _SIMPLE.unpack_from(blob, pos)
    if dev >= MAX_DEVICES:
        raise _reject(f"{name}.devindex", f"device index {dev} is not below {MAX_DEVICES}")
    if offset % align:
        raise _reject(f"{name}.offset", f"{offset:#x} is not a multiple of {align:#x}")
    if length == 0:
        raise _reject(f"{name}.len", "empty extent")
    if length % align:
        raise _reject(f"{name}.len", f"{length:#x} is not a multiple of {align:#x}")
    if offset + length > MAX_LOFF:
        raise _reject(name, f"ends at {offset + length:#x}, past the largest device offset")
    return WireExtent(dev, offset, length)


def decode_get_fmap(blob: bytes | memoryview, align: int = WIRE_ALIGN) -> GetFmapReply:
    """Parse and validate a GET_FMAP reply; MappingError names the first field that breaks a
    rule. The blob must end exactly where its last structure ends. Extent offsets and lengths
    must be multiples of `align` (the kernel's 2 MiB by default; PAGE_SIZE for userspace
    readers), chunk sizes multiples of it or exactly one page."""
    _need(blob, HEADER_SIZE, "header")
    ftype, _, version, ext_type, nextents, size = _HEADER.unpack_from(blob, 0)
    if ftype not in FileType._value2member_map_:
        raise _reject("file_type", f"{ftype} is not REG, SUPERBLOCK or LOG")
    if version != FMAP_VERSION:
        raise _reject("fmap_version", f"{version}, only {FMAP_VERSION} is known")
    if ext_type not in ExtentType._value2member_map_:
        raise _reject("ext_type", f"{ext_type} is not SIMPLE or INTERLEAVE")
    if not 1 <= nextents <= MAX_WIRE_EXTENTS:
        raise _reject("nextents", f"{nextents} (1..{MAX_WIRE_EXTENTS} allowed)")
    if size > MAX_LOFF:
        raise _reject("file_size", f"{size:#x} is past the largest file offset")
    pos = HEADER_SIZE
    if ext_type == ExtentType.SIMPLE:
        extents = []
        for i in range(nextents):
            extents.append(_extent(blob, pos, f"se[{i}]", align))
            pos += EXTENT_SIZE
        total = sum(e.length for e in extents)
        reply = GetFmapReply(FileType(ftype), ExtentType.SIMPLE, size, extents=tuple(extents))
    else:
        interleaves = []
        total = 0
        for i in range(nextents):
            name = f"ie[{i}]"
            _need(blob, pos + _IEXT.size, name)
            nstrips, chunk, nbytes = _IEXT.unpack_from(blob, pos)
            pos += _IEXT.size
            if not 1 <= nstrips <= MAX_WIRE_STRIPS:
                raise _reject(f"{name}.nstrips", f"{nstrips} (1..{MAX_WIRE_STRIPS} allowed)")
            if chunk == 0 or (chunk % align and chunk != PAGE_SIZE):
                raise _reject(f"{name}.chunk_size",
                              f"{chunk:#x} is neither a multiple of {align:#x} nor one page")
            if nbytes == 0:
                raise _reject(f"{name}.nbytes", "0 bytes")
            strips = []
            for j in range(nstrips):
                strips.append(_extent(blob, pos, f"{name}.strip[{j}]", align))
                pos += EXTENT_SIZE
            reach = min(s.length for s in strips) // chunk * chunk * nstrips
            if reach < nbytes:
                raise _reject(f"{name}.nbytes", f"{nbytes:#x} bytes, but the strips hold only "
                                                f"{reach:#x} bytes in whole stripes")
            interleaves.append(WireInterleave(chunk, nbytes, tuple(strips)))
            total += nbytes
        reply = GetFmapReply(FileType(ftype), ExtentType.INTERLEAVE, size,
                             interleaves=tuple(interleaves))
    if pos != len(blob):
        raise _reject("length", f"{len(blob) - pos} bytes after the last extent")
    if total > MAX_LOFF:
        raise _reject("nextents", f"the extents hold {total:#x} bytes, past the largest file "
                                  f"offset")
    if total < size:
        raise _reject("file_size", f"{size:#x} bytes, but the extents hold only {total:#x}")
    return reply


def decode_get_daxdev(blob: bytes | memoryview) -> DaxdevReply:
    """Parse and validate a GET_DAXDEV reply (exactly 280 bytes, index below 64, a
    NUL-terminated non-empty name)."""
    if len(blob) != DAXDEV_REPLY_SIZE:
        raise MappingError(f"GET_DAXDEV reply: {len(blob)} bytes, expected {DAXDEV_REPLY_SIZE}")
    index, _, _, _, _, raw = _DAXDEV.unpack_from(blob, 0)
    if index >= MAX_DEVICES:
        raise MappingError(f"GET_DAXDEV reply: field index: {index} is not below {MAX_DEVICES}")
    if b"\0" not in raw:
        raise MappingError("GET_DAXDEV reply: field name: not NUL-terminated")
    name = raw.split(b"\0", 1)[0]
    if not name:
        raise MappingError("GET_DAXDEV reply: field name: empty")
    try:
        return DaxdevReply(index, name.decode())
    except UnicodeDecodeError:
        raise MappingError(f"GET_DAXDEV reply: field name: {name!r} is not UTF-8") from None


# --- combined setup reply ---------------------------------------------------------------------
# Not a kernel message: one reply carrying a GET_FMAP reply and the GET_DAXDEV replies of the
# devices it uses, to measure what a single setup round trip saves.
#   0 fmap_len u32   4 ndaxdev u32   8 fmap[fmap_len]   then ndaxdev x 280-byte GET_DAXDEV replies
_SETUP = struct.Struct("<II")


def encode_setup_reply(fmap: bytes, daxdevs: list[bytes]) -> bytes:
    """A GET_FMAP reply and GET_DAXDEV replies in one message."""
    return _SETUP.pack(len(fmap), len(daxdevs)) + fmap + b"".join(daxdevs)


def decode_setup_reply(blob: bytes | memoryview) -> tuple[bytes, list[DaxdevReply]]:
    """(GET_FMAP reply bytes, decoded GET_DAXDEV replies) of a combined setup reply."""
    if len(blob) < _SETUP.size:
        raise MappingError(f"setup reply: {len(blob)} bytes, too short for its header")
    flen, ndev = _SETUP.unpack_from(blob, 0)
    end = _SETUP.size + flen + ndev * DAXDEV_REPLY_SIZE
    if ndev > MAX_DEVICES or end != len(blob):
        raise MappingError(f"setup reply: {flen} map bytes and {ndev} devices do not fill "
                           f"{len(blob)} bytes")
    fmap = bytes(blob[_SETUP.size:_SETUP.size + flen])
    pos = _SETUP.size + flen
    devs = [decode_get_daxdev(blob[pos + i * DAXDEV_REPLY_SIZE:pos + (i + 1) * DAXDEV_REPLY_SIZE])
            for i in range(ndev)]
    return fmap, devs


# --- simple-extent maps of the newest kernel revision -------------------------------------------
# The newest posted kernel series takes simple extents only, and sizes its reply buffer by the
# request: GET_FMAP carries a fuse_getxattr_in (0 size u32, 4 padding u32), and the reply
# header's reserved0 field becomes fmap_size, the message's total bytes. A map larger than the
# offered buffer is answered with its header alone; the kernel asks again with that size.
#   header: 0 file_type u8  1 reserved u8  2 fmap_version u16  4 ext_type u32 (SIMPLE)
#           8 nextents u32  12 fmap_size u32  16 file_size u64  24 reserved1 u64
#   then nextents x fuse_famfs_simple_ext (24 bytes, as above)
_SIMPLE_HEADER = struct.Struct("<BBHIIIQ8x")
_GETXATTR_IN = struct.Struct("<II")
MAX_SIMPLE_FMAP_EXTENTS = 524_288
"""Most extents in one simple-extent map (a striped file unrolled into chunks): the message is
then 12 MiB + 32 bytes, inside the kernel's 16 MiB reply buffer."""
SIMPLE_FMAP_MAX = HEADER_SIZE + MAX_SIMPLE_FMAP_EXTENTS * EXTENT_SIZE
_EXT_DTYPE = [("dev", "<u4"), ("reserved", "<u4"), ("offset", "<u8"), ("length", "<u8")]


def encode_simple_fmap(file_type: int, file_size: int, devs: object, offsets: object,
                       lengths: object) -> bytes:
    """A simple-extent map message from parallel sequences (or NumPy arrays) of device
    indices, device offsets and lengths (bytes)."""
    import numpy as np

    dev = np.asarray(devs, dtype=np.uint32)
    n = len(dev)
    if not 1 <= n <= MAX_SIMPLE_FMAP_EXTENTS:
        raise MappingError(f"simple-extent map: {n} extents (1..{MAX_SIMPLE_FMAP_EXTENTS} "
                           f"allowed)")
    table = np.zeros(n, dtype=_EXT_DTYPE)
    table["dev"] = dev
    table["offset"] = np.asarray(offsets, dtype=np.uint64)
    table["length"] = np.asarray(lengths, dtype=np.uint64)
    head = _SIMPLE_HEADER.pack(FileType(file_type), 0, FMAP_VERSION, ExtentType.SIMPLE, n,
                               HEADER_SIZE + n * EXTENT_SIZE, file_size)
    return head + table.tobytes()


def encode_unrolled_fmap(entry: FileEntry) -> bytes:
    """The simple-extent map of the file of log entry `entry`: its simple extents as they are,
    or, for an interleaved file, one extent per chunk in file order (chunk c is on strip
    c % nstrips, at stripe c // nstrips), every extent chunk_size bytes but the last, which is
    what is left rounded up to 2 MiB (the kernel's alignment) and at most one chunk. A file
    of more than MAX_SIMPLE_FMAP_EXTENTS chunks is refused (MappingError naming the limit)."""
    import numpy as np

    fmap = entry.fmap
    il = fmap.interleave
    if il is None:
        exts = fmap.extents
        return encode_simple_fmap(FileType.REG, entry.size, [e.devindex for e in exts],
                                  [e.offset for e in exts], [e.length for e in exts])
    chunk, nstrips = il.chunk_size, il.nstrips
    count = max(1, -(-entry.size // chunk))
    if count > MAX_SIMPLE_FMAP_EXTENTS:
        raise MappingError(f"{entry.relpath}: {count} chunks of {chunk} bytes; a simple-extent "
                           f"map holds at most {MAX_SIMPLE_FMAP_EXTENTS} (files up to "
                           f"{MAX_SIMPLE_FMAP_EXTENTS * chunk} bytes at this chunk size)")
    c = np.arange(count, dtype=np.uint64)
    strip = (c % np.uint64(nstrips)).astype(np.intp)
    strip_dev = np.array([s.devindex for s in il.strips], dtype=np.uint32)
    strip_off = np.array([s.offset for s in il.strips], dtype=np.uint64)
    offsets = strip_off[strip] + (c // np.uint64(nstrips)) * np.uint64(chunk)
    lengths = np.full(count, chunk, dtype=np.uint64)
    rest = entry.size - (count - 1) * chunk
    lengths[-1] = min(chunk, -(-rest // WIRE_ALIGN) * WIRE_ALIGN) if rest > 0 else chunk
    return encode_simple_fmap(FileType.REG, entry.size, strip_dev[strip], offsets, lengths)


def meta_simple_fmap(blob: bytes) -> bytes:
    """The simple-extent map message of a `.meta` file's GET_FMAP reply (one extent)."""
    reply = decode_get_fmap(blob)
    (ext,) = reply.extents
    return encode_simple_fmap(reply.file_type, reply.file_size, [ext.devindex], [ext.offset],
                              [ext.length])


@dataclass(frozen=True)
class SimpleFmap:
    """A validated simple-extent map message: parallel int64 arrays of the extents."""

    file_type: FileType
    file_size: int
    devs: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray

    @property
    def devices(self) -> frozenset[int]:
        return frozenset(self.devs.tolist())


def simple_fmap_size(blob: bytes | memoryview) -> int:
    """The total message size a simple-extent map's header announces (fmap_size)."""
    _need(blob, HEADER_SIZE, "header")
    return int(_SIMPLE_HEADER.unpack_from(blob, 0)[5])


def decode_simple_fmap(blob: bytes | memoryview, align: int = WIRE_ALIGN) -> SimpleFmap:
    """Parse and validate a simple-extent map message as the newest kernel does (every device
    index below 64, offsets and lengths multiples of `align`, the extents holding the file)
    and as this project limits it (at most MAX_SIMPLE_FMAP_EXTENTS extents, fmap_size equal to
    the message). MappingError names the field."""
    import numpy as np

    _need(blob, HEADER_SIZE, "header")
    ftype, _, version, ext_type, n, fmap_size, size = _SIMPLE_HEADER.unpack_from(blob, 0)
    if ftype not in FileType._value2member_map_:
        raise _reject("file_type", f"{ftype} is not REG, SUPERBLOCK or LOG")
    if version != FMAP_VERSION:
        raise _reject("fmap_version", f"{version}, only {FMAP_VERSION} is known")
    if ext_type != ExtentType.SIMPLE:
        raise _reject("ext_type", f"{ext_type}: this revision takes simple extents only")
    if not 1 <= n <= MAX_SIMPLE_FMAP_EXTENTS:
        raise _reject("nextents", f"{n} (1..{MAX_SIMPLE_FMAP_EXTENTS} allowed)")
    if fmap_size != HEADER_SIZE + n * EXTENT_SIZE:
        raise _reject("fmap_size", f"{fmap_size}, but {n} extents make "
                                   f"{HEADER_SIZE + n * EXTENT_SIZE} bytes")
    if len(blob) != fmap_size:
        raise _reject("length", f"{len(blob)} bytes, the header says {fmap_size}")
    if size > MAX_LOFF:
        raise _reject("file_size", f"{size:#x} is past the largest file offset")
    table = np.frombuffer(blob, dtype=_EXT_DTYPE, count=n, offset=HEADER_SIZE)
    devs = table["dev"].astype(np.int64)
    offsets = table["offset"]
    lengths = table["length"]
    bad = np.flatnonzero((devs >= MAX_DEVICES) | (offsets % align != 0) | (lengths == 0)
                         | (lengths % align != 0) | (lengths > MAX_LOFF)
                         | (offsets > MAX_LOFF - lengths))
    if bad.size:
        i = int(bad[0])
        raise _reject(f"se[{i}]", f"device {int(devs[i])}, offset {int(offsets[i]):#x}, length "
                                  f"{int(lengths[i]):#x}: not a valid extent")
    total = int(lengths.sum(dtype=np.uint64))
    if total < size:
        raise _reject("file_size", f"{size:#x} bytes, but the extents hold only {total:#x}")
    return SimpleFmap(FileType(ftype), size, devs, offsets.astype(np.int64),
                      lengths.astype(np.int64))


def getxattr_in(size: int) -> bytes:
    """The GET_FMAP request body of the newest revision: the reply buffer offered (bytes)."""
    return _GETXATTR_IN.pack(size, 0)


def offered_size(body: bytes | memoryview) -> int | None:
    """The reply buffer a GET_FMAP request of the newest revision offers, or None."""
    if len(body) < _GETXATTR_IN.size:
        return None
    return int(_GETXATTR_IN.unpack_from(body, 0)[0])
