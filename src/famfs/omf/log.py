"""The famfs metadata log: a 48-byte header, then fixed 544-byte entries."""

from __future__ import annotations

import os
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from stat import S_IFDIR, S_IFREG

import numpy as np

from famfs.errors import CorruptError, PathError, UsageError
from famfs.omf.fmap import FMAP_SIZE, FileMap, decode_fmap, encode_fmap
from famfs.omf.layout import (
    FILE_FLAG_ALL_HOSTS_RW,
    LOG_ENTRY_SIZE,
    LOG_HEADER_SIZE,
    LOG_MAGIC,
    MAX_PATH,
    MAX_SIMPLE_EXTENTS,
    log_last_index,
)

# Reference struct famfs_log header (48 bytes):
#   0 famfs_log_magic u64   8 famfs_log_len u64   16 famfs_log_last_index u64
#  24 famfs_log_crc u64 (CRC-32 of bytes [0, 24))  32 famfs_log_next_seqnum u64
#  40 famfs_log_next_index u64
_HEADER = struct.Struct("<QQQQQQ")
_HEADER_CRC_SPAN = 24
COUNTERS_OFFSET = 32
"""Offset of next_seqnum and next_index: 16 bytes, written in one store on append."""
NEXT_INDEX = struct.Struct("<Q")
NEXT_INDEX_OFFSET = COUNTERS_OFFSET + 8
"""Offset of next_index (u64) in the header."""


@dataclass(frozen=True)
class LogHeader:
    log_len: int
    next_seqnum: int = 0
    next_index: int = 0
    magic: int = LOG_MAGIC
    crc: int = 0

    @property
    def last_index(self) -> int:
        return log_last_index(self.log_len)

    @property
    def slots(self) -> int:
        return self.last_index + 1

    def is_full(self) -> bool:
        return self.next_index > self.last_index

    def encode(self) -> bytes:
        head = struct.pack("<QQQ", self.magic, self.log_len, self.last_index)
        crc = zlib.crc32(head)
        return head + struct.pack("<QQQ", crc, self.next_seqnum, self.next_index)

    @classmethod
    def decode(cls, buf: bytes | memoryview, log_len: int) -> LogHeader:
        """Decode and check the header of a log whose superblock says `log_len` bytes."""
        magic, hlen, last, crc, seq, nxt = _HEADER.unpack_from(buf)
        if magic != LOG_MAGIC:
            raise CorruptError("log header", "magic", f"{magic:#x} is not {LOG_MAGIC:#x}")
        want = zlib.crc32(bytes(buf[:_HEADER_CRC_SPAN]))
        if crc != want:
            raise CorruptError("log header", "crc", f"stored {crc:#x}, computed {want:#x}")
        if hlen != log_len:
            raise CorruptError("log header", "log_len",
                               f"{hlen:#x} differs from the superblock's {log_len:#x}")
        if last != log_last_index(log_len):
            raise CorruptError("log header", "last_index",
                               f"{last}, expected {log_last_index(log_len)} for this log_len")
        if nxt > last + 1:
            raise CorruptError("log header", "next_index", f"{nxt} is past the last slot {last}")
        if seq != nxt:
            raise CorruptError("log header", "next_seqnum",
                               f"{seq} differs from next_index {nxt}")
        return cls(log_len=hlen, next_seqnum=seq, next_index=nxt, magic=magic, crc=crc)


class EntryType(IntEnum):
    FILE = 0
    MKDIR = 1
    DELETE = 2
    ADD_DAXDEV = 3
    INVALID = 4


@dataclass(frozen=True)
class FileEntry:
    """A FILE log entry: a file of exactly `size` bytes at `relpath` with map `fmap`."""

    relpath: str
    size: int
    fmap: FileMap
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    flags: int = FILE_FLAG_ALL_HOSTS_RW


@dataclass(frozen=True)
class MkdirEntry:
    """A MKDIR log entry."""

    relpath: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class AddDaxdevEntry:
    """An ADD_DAXDEV log entry: device `index` of `size` bytes, known by `uuid` (16 bytes)."""

    index: int
    size: int
    uuid: bytes = bytes(16)


Payload = FileEntry | MkdirEntry | AddDaxdevEntry


@dataclass(frozen=True)
class LogEntry:
    """A log entry as stored: slot `seqnum` (equal to its index) and its payload."""

    seqnum: int
    payload: Payload


# Reference struct famfs_log_entry (544 bytes):
#   0 famfs_log_entry_seqnum u64   8 famfs_log_entry_type u32   12 pad u32
#  16 union { famfs_log_file_meta | famfs_log_mkdir | famfs_log_daxdev }   536 crc u64
# struct famfs_log_file_meta: 0 fm_size u64, 8 fm_flags u32, 12 fm_uid u32, 16 fm_gid u32,
#   20 fm_mode u32, 24 fm_relpath[80], 104 fm_fmap (416)
# struct famfs_log_mkdir: 0 md_uid u32, 4 md_gid u32, 8 md_mode u32, 12 md_relpath[80]
# struct famfs_log_daxdev: 0 dd_size u64, 8 dd_uuid[16], 24 dd_index u32
_ENTRY_HEAD = struct.Struct("<QI4x")
_FILE = struct.Struct("<QIIII80s")
_MKDIR = struct.Struct("<III80s")
_DAXDEV = struct.Struct("<Q16sI")
_CRC = struct.Struct("<Q")
_PAYLOAD = 16
_CRC_OFFSET = LOG_ENTRY_SIZE - 8
_FMAP_OFFSET = _PAYLOAD + _FILE.size
assert _FMAP_OFFSET + FMAP_SIZE == _CRC_OFFSET
_TYPE_FILE, _TYPE_MKDIR, _TYPE_ADD_DAXDEV = int(EntryType.FILE), int(EntryType.MKDIR), \
    int(EntryType.ADD_DAXDEV)


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
"""What os.fsencode uses (a str path to its file-name bytes)."""


def check_relpath(path: str) -> bytes:
    """The on-media bytes of a famfs relative path, or PathError saying what is wrong with it.

    Paths are bytes on media, as names are on Linux: a str here carries bytes that are not
    UTF-8 as surrogate escapes (os.fsencode / os.fsdecode), so any name round-trips exactly."""
    try:
        raw = path.encode(_FS_ENCODING, _FS_ERRORS)
    except UnicodeEncodeError:
        raise PathError(f"path {path.encode(errors='backslashreplace').decode()!r} cannot be "
                        f"encoded as file-name bytes") from None
    # The common case passes every rule below at once: no '.' (so no '.' or '..' component),
    # no '//' (no empty component), no '/' at either end, no NUL, short enough.
    if raw and len(raw) < MAX_PATH and b"." not in raw and b"//" not in raw \
            and raw[0] != 0x2F and raw[-1] != 0x2F and b"\0" not in raw:
        return raw
    if len(raw) >= MAX_PATH:
        raise PathError(f"path {path!r} is {len(raw)} bytes; famfs paths are at most "
                        f"{MAX_PATH - 1} bytes")
    if not raw or raw.startswith(b"/"):
        raise PathError(f"path {path!r} must be relative to the filesystem root")
    if b"\0" in raw:
        raise PathError(f"path {path!r} contains a NUL byte")
    for part in raw.split(b"/"):
        if part in (b"", b".", b".."):
            raise PathError(f"path {path!r} has an empty, '.' or '..' component")
    return raw


def _decode_relpath(raw: bytes, index: int) -> str:
    nul = raw.find(0)
    if nul < 0:
        raise CorruptError("log entry", "relpath", "not NUL-terminated", index)
    name = raw[:nul]
    text = os.fsdecode(name)
    # Fast path for the common case: no '.' at all (so no '.' or '..' component), no empty
    # component, not absolute. Anything else gets the full check and its message.
    if name and b"." not in name and b"//" not in name and name[0] != 0x2F \
            and name[-1] != 0x2F:
        return text
    try:
        check_relpath(text)
    except PathError as exc:
        raise CorruptError("log entry", "relpath", str(exc), index) from None
    return text


def _check_mode(mode: int, file_type: int, index: int) -> None:
    """Permission bits, optionally with the entry's own file-type bits (the reference `cp`
    stores the source's whole st_mode)."""
    if mode & ~0o7777 not in (0, file_type):
        raise CorruptError("log entry", "mode", f"{mode:#o} has foreign file-type bits", index)


def encode_entry(seqnum: int, payload: Payload) -> bytes:
    """The 544 bytes of a log entry, zero-filled, CRC over bytes [0, 536). A value that does
    not fit its field (a uid past 32 bits, a negative size) raises UsageError."""
    try:
        return _encode_entry(seqnum, payload)
    except struct.error as exc:
        what = getattr(payload, "relpath", f"device {getattr(payload, 'index', '?')}")
        raise UsageError(f"{what}: a value does not fit its log entry field ({exc})") from None


def _encode_entry(seqnum: int, payload: Payload) -> bytes:
    out = bytearray(LOG_ENTRY_SIZE)
    if isinstance(payload, FileEntry):
        etype = EntryType.FILE
        _FILE.pack_into(out, _PAYLOAD, payload.size, payload.flags, payload.uid, payload.gid,
                        payload.mode, check_relpath(payload.relpath))
        out[_FMAP_OFFSET:_FMAP_OFFSET + FMAP_SIZE] = encode_fmap(payload.fmap)
    elif isinstance(payload, MkdirEntry):
        etype = EntryType.MKDIR
        _MKDIR.pack_into(out, _PAYLOAD, payload.uid, payload.gid, payload.mode,
                         check_relpath(payload.relpath))
    else:
        etype = EntryType.ADD_DAXDEV
        _DAXDEV.pack_into(out, _PAYLOAD, payload.size, payload.uuid, payload.index)
    _ENTRY_HEAD.pack_into(out, 0, seqnum, etype)
    _CRC.pack_into(out, _CRC_OFFSET, zlib.crc32(memoryview(out)[:_CRC_OFFSET]))
    return bytes(out)


def decode_entry(buf: bytes | memoryview, index: int, offset: int = 0) -> LogEntry:
    """Decode slot `index`, whose 544 bytes are at `buf[offset:]`, checking seqnum, CRC, type,
    relpath and map counts. Extent values are checked against the filesystem by the caller
    (they need the device sizes)."""
    seqnum, etype = _ENTRY_HEAD.unpack_from(buf, offset)
    (crc,) = _CRC.unpack_from(buf, offset + _CRC_OFFSET)
    want = zlib.crc32(buf[offset:offset + _CRC_OFFSET])
    if crc != want:
        raise CorruptError("log entry", "crc", f"stored {crc:#x}, computed {want:#x}", index)
    if seqnum != index:
        raise CorruptError("log entry", "seqnum", f"{seqnum} in slot {index}", index)
    if etype == _TYPE_FILE:
        size, flags, uid, gid, mode, raw = _FILE.unpack_from(buf, offset + _PAYLOAD)
        relpath = _decode_relpath(raw, index)
        if mode & ~0o7777:
            _check_mode(mode, S_IFREG, index)
        fmap = decode_fmap(buf, offset + _FMAP_OFFSET, index)
        return LogEntry(seqnum, FileEntry(relpath, size, fmap, mode, uid, gid, flags))
    if etype == _TYPE_MKDIR:
        uid, gid, mode, raw = _MKDIR.unpack_from(buf, offset + _PAYLOAD)
        relpath = _decode_relpath(raw, index)
        _check_mode(mode, S_IFDIR, index)
        return LogEntry(seqnum, MkdirEntry(relpath, mode, uid, gid))
    if etype == _TYPE_ADD_DAXDEV:
        size, dev_uuid, dev_index = _DAXDEV.unpack_from(buf, offset + _PAYLOAD)
        return LogEntry(seqnum, AddDaxdevEntry(dev_index, size, bytes(dev_uuid)))
    raise CorruptError("log entry", "type", f"{etype} is not FILE, MKDIR or ADD_DAXDEV", index)


def entry_offset(index: int) -> int:
    """Byte offset of slot `index` from the start of the log."""
    return LOG_HEADER_SIZE + index * LOG_ENTRY_SIZE


# --- bulk decoding ----------------------------------------------------------------------------
# The same 544-byte layout as above, as a NumPy structured dtype over the mapped log (the union
# members overlap at offset 16). FILE: f_size @16, f_flags @24, f_uid @28, f_gid @32,
# f_mode @36, f_relpath @40; fmap @120: ext_type @120, nextents @128, se[16] @136 (24 bytes
# each: devindex, offset, len). MKDIR: d_uid @16, d_gid @20, d_mode @24, d_relpath @28.
ENTRY_DTYPE = np.dtype({
    "names": ["seqnum", "type", "f_size", "f_flags", "f_uid", "f_gid", "f_mode", "f_relpath",
              "ext_type", "nextents", "se", "d_uid", "d_gid", "d_mode", "d_relpath", "crc"],
    "formats": ["<u8", "<u4", "<u8", "<u4", "<u4", "<u4", "<u4", ("u1", MAX_PATH),
                "<u4", "<u4", ("<u8", (16, 3)), "<u4", "<u4", "<u4", ("u1", MAX_PATH), "<u8"],
    "offsets": [0, 8, 16, 24, 28, 32, 36, 40, 120, 128, 136, 16, 20, 24, 28, _CRC_OFFSET],
    "itemsize": LOG_ENTRY_SIZE,
})
FILE_RELPATH_OFFSET = 40
MKDIR_RELPATH_OFFSET = 28


@dataclass
class EntryTable:
    """Slots [start, start + len) of a log, decoded in bulk, as columns.

    `slow` holds the positions (relative to `start`) of entries the vectorized checks could not
    pass: a CRC, seqnum, type, relpath or mode that fails, a path that needs the full name check,
    an ADD_DAXDEV entry, or a map that is not one to sixteen simple extents on device 0. Those
    entries go through `decode_entry` one by one; every other entry has passed every check
    `decode_entry` makes. `simple` marks FILE entries whose simple extents still need checking
    against the devices (see `regular_extents`).
    """

    start: int
    rec: np.ndarray
    slow: np.ndarray
    relpaths: list[bytes]
    """Each entry's relpath bytes up to the NUL (b"" for entries of other types)."""

    def __len__(self) -> int:
        return len(self.rec)

    @property
    def stop(self) -> int:
        return self.start + len(self.rec)


def crc_column(buf: bytes | memoryview, offset: int, count: int) -> list[int]:
    """CRC-32 of bytes [0, 536) of each of `count` entries starting at `buf[offset:]`."""
    crc = zlib.crc32
    view = memoryview(buf)
    return [crc(view[o:o + _CRC_OFFSET])
            for o in range(offset, offset + count * LOG_ENTRY_SIZE, LOG_ENTRY_SIZE)]


BULK_ENCODE = 16
"""Batches of at least this many FILE entries with simple maps are encoded as columns."""
_FILE_COLUMNS = (("f_size", "size"), ("f_flags", "flags"), ("f_uid", "uid"), ("f_gid", "gid"),
                 ("f_mode", "mode"))
"""Record column and FileEntry attribute of each scalar field of a FILE entry."""


def encode_records(payloads: Sequence[Payload]) -> np.ndarray:
    """The entries of `payloads` as a writable ENTRY_DTYPE array, seqnum and CRC left 0 (the
    caller numbers them and sets the CRCs, see `set_crcs`): the bytes `encode_entry` writes,
    and the same error for the first payload that has one (PathError, UsageError).

    Many FILE entries with simple maps are encoded as columns; a value that does not come
    back from its column unchanged (one that does not fit, or is not an integer) sends the
    whole batch through `encode_entry`, which raises its error."""
    if len(payloads) >= BULK_ENCODE and all(
            type(p) is FileEntry and p.fmap.interleave is None
            and len(p.fmap.extents) <= MAX_SIMPLE_EXTENTS for p in payloads):
        try:
            rec = _file_records(payloads)  # type: ignore[arg-type]
        except (PathError, OverflowError, TypeError, ValueError):
            rec = None
        if rec is not None:
            return rec
    blob = bytearray(b"".join(encode_entry(0, p) for p in payloads))
    return np.frombuffer(blob, dtype=ENTRY_DTYPE)


def _file_records(payloads: Sequence[FileEntry]) -> np.ndarray | None:
    """Columns of FILE entries with at most 16 simple extents each; None if a value does
    not survive its column (encode_entry then says which)."""
    count = len(payloads)
    rec = np.zeros(count, dtype=ENTRY_DTYPE)
    for column, attr in _FILE_COLUMNS:
        values = [getattr(p, attr) for p in payloads]
        array = np.array(values, dtype=rec.dtype[column])
        if array.tolist() != values:
            return None
        rec[column] = array
    raws = [check_relpath(p.relpath) for p in payloads]
    rec["f_relpath"] = np.array(raws, dtype=f"S{MAX_PATH}").view(np.uint8).reshape(
        count, MAX_PATH)
    extents = [p.fmap.extents for p in payloads]
    counts = [len(e) for e in extents]
    rec["nextents"] = counts
    se = rec["se"]
    single = all(n == 1 for n in counts)
    flat = [e[0] for e in extents] if single else [ext for e in extents for ext in e]
    for k, attr in enumerate(("devindex", "offset", "length")):
        values = [getattr(ext, attr) for ext in flat]
        field = np.array(values, dtype=np.uint64)
        if field.tolist() != values:
            return None
        if single:
            se[:, 0, k] = field
        elif flat:
            rows = np.repeat(np.arange(count), counts)
            se[rows, np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts),
               k] = field
    return rec


def set_crcs(records: np.ndarray) -> None:
    """Set the CRC of each ENTRY_DTYPE record in place (over its bytes [0, 536))."""
    flat = np.ascontiguousarray(records).view(np.uint8)
    records["crc"] = crc_column(flat.data, 0, len(records))


def entry_records(buf: bytes | memoryview, offset: int, count: int) -> np.ndarray:
    """The `count` entries at `buf[offset:]` as an ENTRY_DTYPE array viewing `buf` (no copy)."""
    return np.frombuffer(buf, dtype=ENTRY_DTYPE, count=count, offset=offset)


def decode_entries(buf: bytes | memoryview, offset: int, start: int, count: int) -> EntryTable:
    """Decode slots [start, start + count), whose bytes begin at `buf[offset:]`, in bulk.

    Nothing is raised here: entries that fail (or might fail) a check are listed in `slow`, for
    the caller to decode one at a time, in log order, with `decode_entry` (which raises the
    CorruptError that names the entry and field)."""
    rec = entry_records(buf, offset, count)
    if count == 0:
        return EntryTable(start, rec, np.zeros(0, dtype=np.int64), [])
    crcs = np.array(crc_column(buf, offset, count), dtype=np.uint64)
    bad, raw = _suspects(rec, np.arange(start, start + count, dtype=np.uint64), crcs)
    relpaths = np.ascontiguousarray(raw).view(f"S{MAX_PATH}").ravel().tolist()
    return EntryTable(start, rec, np.flatnonzero(bad), relpaths)


def _suspects(rec: np.ndarray, seqnums: np.ndarray, crcs: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """For each record of `rec` (expected in slots `seqnums`, with computed CRCs `crcs`):
    whether decode_entry must look at it (see EntryTable.slow); and the relpath bytes."""
    etype = rec["type"]
    bad = rec["crc"] != crcs
    bad |= rec["seqnum"] != seqnums
    is_file = etype == _TYPE_FILE
    is_dir = etype == _TYPE_MKDIR
    bad |= ~(is_file | is_dir)
    raw = np.where(is_file[:, None], rec["f_relpath"], rec["d_relpath"])
    bad |= ~(raw == 0).any(axis=1)
    bad |= raw[:, 0] == 0
    file_type = rec["f_mode"] & ~np.uint32(0o7777)
    dir_type = rec["d_mode"] & ~np.uint32(0o7777)
    bad |= is_file & (file_type != 0) & (file_type != S_IFREG)
    bad |= is_dir & (dir_type != 0) & (dir_type != S_IFDIR)
    # Files: one to sixteen simple extents on device 0 (their values are checked later, against
    # the device sizes); anything else takes the slow path.
    nexts = rec["nextents"]
    bad |= is_file & ((rec["ext_type"] != 0) | (nexts < 1) | (nexts > MAX_SIMPLE_EXTENTS))
    used = np.arange(MAX_SIMPLE_EXTENTS)[None, :] < \
        np.minimum(nexts, MAX_SIMPLE_EXTENTS)[:, None].astype(np.int64)
    bad |= is_file & ((rec["se"][:, :, 0] != 0) & used).any(axis=1)
    # The name check decode_entry makes in full for names with a '.', a '//', or a '/' at
    # either end (and for bytes after the NUL, which a plain column read would keep) is left
    # to the slow path; any other name passes it.
    nul = (raw == 0).argmax(axis=1)
    before = np.arange(MAX_PATH)[None, :] < nul[:, None]
    slash = raw == 0x2F
    bad |= ((raw == 0x2E) & before).any(axis=1)
    bad |= (slash[:, :-1] & slash[:, 1:] & before[:, 1:]).any(axis=1)
    bad |= slash[:, 0] | slash[np.arange(len(rec)), np.maximum(nul - 1, 0)]
    bad |= ((raw != 0) & ~before).any(axis=1)
    return bad, raw


def suspect_records(rec: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Positions in `rec` (a C-contiguous ENTRY_DTYPE array: entries gathered from slots
    `indices`) of the records the vectorized checks of `decode_entries` cannot pass; every
    other record passes every check `decode_entry` makes."""
    if not len(rec):
        return np.zeros(0, dtype=np.int64)
    flat = np.ascontiguousarray(rec).view(np.uint8)
    crcs = np.array(crc_column(flat.data, 0, len(rec)), dtype=np.uint64)
    bad, _ = _suspects(rec, np.asarray(indices, dtype=np.uint64), crcs)
    return np.flatnonzero(bad)


def regular_extents(table: EntryTable, alloc_unit: int, dev0_size: int, data_start: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Check the maps of the FILE entries of `table` not in `slow` as `check_fmap` would.

    Returns the positions (relative to `table.start`) of those that fail a rule (they take the
    slow path, which names the rule), and the extents of the others as int64 rows
    (position, device offset, length), in log order, then extent order."""
    rec = table.rec
    fast = np.ones(len(rec), dtype=bool)
    fast[table.slow] = False
    fast &= rec["type"] == _TYPE_FILE
    pos = np.flatnonzero(fast)
    if len(pos) == 0:
        return pos, np.zeros((0, 3), dtype=np.int64)
    nexts = rec["nextents"][pos].astype(np.int64)
    first_row = np.cumsum(nexts) - nexts
    rows_of = np.repeat(np.arange(len(pos)), nexts)
    within = np.arange(len(rows_of)) - first_row[rows_of]
    ext = rec["se"][pos][rows_of, within]
    off, length = ext[:, 1], ext[:, 2]
    au = np.uint64(alloc_unit)
    dev0 = np.uint64(dev0_size)
    ok = (length != 0) & (off != 0) & (off % au == 0) & (length % au == 0) \
        & (off >= np.uint64(data_start)) & (off <= dev0) & (length <= dev0 - off)
    entry_ok = np.minimum.reduceat(ok, first_row)
    capacity = np.add.reduceat(length, first_row)
    entry_ok &= capacity >= rec["f_size"][pos]
    keep = entry_ok[rows_of]
    rows = np.stack([pos[rows_of[keep]], off[keep].astype(np.int64),
                     length[keep].astype(np.int64)], axis=1)
    return pos[~entry_ok], rows


_HEAD_FILE = struct.Struct("<QI4xQIIII80s")
_HEAD_MKDIR = struct.Struct("<QI4xIII80s")


ENTRY_HEAD_SIZE = _HEAD_FILE.size
"""Bytes at the start of an entry that `entry_head` reads (type, path, mode, owner, size)."""
assert _HEAD_MKDIR.size <= ENTRY_HEAD_SIZE


def entry_head(buf: bytes | memoryview, offset: int
               ) -> tuple[int, bytes, int, int, int, int, int]:
    """(type, relpath bytes, mode, uid, gid, size, flags) of the FILE or MKDIR entry at
    `buf[offset:]` (size and flags 0 for MKDIR), read without any check (for entries checked
    before)."""
    (etype,) = struct.unpack_from("<I", buf, offset + 8)
    if etype == _TYPE_FILE:
        _, _, size, flags, uid, gid, mode, raw = _HEAD_FILE.unpack_from(buf, offset)
    else:
        _, _, uid, gid, mode, raw = _HEAD_MKDIR.unpack_from(buf, offset)
        size = flags = 0
    return etype, raw.split(b"\0", 1)[0], mode, uid, gid, size, flags


def file_heads(blob: bytes | memoryview, count: int
               ) -> tuple[list[bytes], list[int], list[int], list[int], list[int], list[int]]:
    """(relpath bytes, mode, uid, gid, size, flags), as columns, of the `count` FILE entries
    whose heads lie end to end in `blob`: what `entry_head` reads of each, without checks."""
    if not count:
        return [], [], [], [], [], []
    _, _, sizes, flags, uids, gids, modes, raws = zip(
        *_HEAD_FILE.iter_unpack(blob[:count * ENTRY_HEAD_SIZE]), strict=True)
    return ([r.partition(b"\0")[0] for r in raws], list(modes), list(uids), list(gids),
            list(sizes), list(flags))
