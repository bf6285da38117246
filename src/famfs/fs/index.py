"""A host-local index of a replayed log: what a replay of entries [0, N) built, kept in a file
so that the next open of the same famfs replays only the entries appended since.

The index is never stored on the device. It lives in `index_dir()` (FAMFS_INDEX_DIR, else
/var/cache/famfs for root, else $XDG_CACHE_HOME/famfs or ~/.cache/famfs), one file per
filesystem and device (named by the filesystem UUID and the device's st_dev, st_ino and
st_rdev), mode 0600 in a directory of mode 0700, owned by the user whose process replayed the
log, which could read the device: nobody learns from it what the device's modes deny them. An
index file not owned by the reading user, open to others, or not a regular file is ignored.

An index is believed only when every check passes:
  * its own bytes: magic, version, sizes of every table, and a CRC-32 over the whole file;
  * the device: the same st_dev/st_ino/st_rdev and size, and the same 200 superblock bytes
    (a new mkfs writes a new UUID and CRC);
  * the log: the same log_len, N at most the header's next_index, the stored CRC of each of
    the N entries equal to the index's copy, and the 64-bit sum of the N entries' bytes equal
    to the one recorded when the index was written. A rewritten entry changes its CRC, and a
    change of any byte changes the sum (as 64-bit words, modulo 2^64).
Anything else (a missing, stale, truncated or garbled index) means a full replay, which writes a
fresh index. The log is append-only, so an index of entries [0, N) stays true while those
entries are unchanged; entries past N are replayed as usual.

FAMFS_INDEX=0 turns indexes off; logs of fewer than FAMFS_INDEX_MIN_ENTRIES entries (default
4096) are replayed whole, which is as fast.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import stat
import struct
import tempfile
import uuid
import zlib
from dataclasses import dataclass, field

import numpy as np

from famfs.alloc import Collision
from famfs.device import Device
from famfs.fs.namespace import Conflict, NodeArrays
from famfs.omf.layout import LOG_ENTRY_SIZE
from famfs.omf.log import ENTRY_DTYPE, LogHeader, entry_offset, entry_records
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock

INDEX_MAGIC = b"FAMFSIDX"
INDEX_VERSION = 2
_HEAD = struct.Struct("<8sII")
"""magic, version, length of the JSON description that follows."""
_TRAILER = struct.Struct("<I")
"""CRC-32 of every byte before it."""
DEFAULT_MIN_ENTRIES = 4096
INDEX_DIR_MODE = 0o700
INDEX_FILE_MODE = 0o600


def enabled(entries: int) -> bool:
    """Whether a log of `entries` entries is indexed."""
    if os.environ.get("FAMFS_INDEX", "1") == "0":
        return False
    try:
        least = int(os.environ.get("FAMFS_INDEX_MIN_ENTRIES", DEFAULT_MIN_ENTRIES))
    except ValueError:
        least = DEFAULT_MIN_ENTRIES
    return entries >= max(1, least)


def index_dir() -> str:
    """The directory of this user's index files."""
    env = os.environ.get("FAMFS_INDEX_DIR")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/cache/famfs"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "famfs")


def device_identity(device: Device) -> tuple[int, int, int, int]:
    """(st_dev, st_ino, st_rdev, size) of the open device."""
    st = os.fstat(device.fd)
    return st.st_dev, st.st_ino, st.st_rdev, device.size


def index_path(device: Device, sb: Superblock) -> str:
    dev, ino, rdev, _ = device_identity(device)
    return os.path.join(index_dir(), f"{sb.fs_uuid}-{dev:x}-{ino:x}-{rdev:x}.idx")


@dataclass
class Restored:
    """What a replay of entries [0, entries) built, as an index keeps it."""

    entries: int
    log_sum: int
    """64-bit sum of the bytes of entries [0, entries)."""
    nodes: NodeArrays
    counts: tuple[int, int, int]
    """(files, directories, bytes in files)."""
    conflicts: list[Conflict]
    collisions: list[Collision]
    devices: dict[int, tuple[uuid.UUID, int]]
    """Devices the log added (index: (UUID, bytes)); device 0 is the primary."""
    runs: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    """Used AU runs by device index: (starts, ends)."""
    crcs: np.ndarray | None = None
    """The stored CRC of each entry, as the index file holds them (when read from one)."""


_CHUNK_ENTRIES = 1927
"""Entries read at a time when summing the log (about 1 MiB)."""
_MASK64 = (1 << 64) - 1


def log_digest(device: Device, sb: Superblock, start: int, stop: int
               ) -> tuple[int, np.ndarray]:
    """The 64-bit sum (mod 2^64) of the bytes of log entries [start, stop) as 64-bit words, and
    their stored CRCs. Image files are read with pread into one reused buffer (the device
    mapping is not touched, so this process pays no page faults for it); DAX devices, which
    only map, are read through the mapping."""
    count = max(0, stop - start)
    crcs = np.empty(count, dtype=np.uint64)
    total = 0
    offset = sb.log_offset + entry_offset(start)
    if device.is_dax:
        if count:
            words = np.frombuffer(device.buf, dtype="<u8", count=count * LOG_ENTRY_SIZE // 8,
                                  offset=offset)
            total = int(words.sum(dtype=np.uint64))
            crcs[:] = entry_records(device.buf, offset, count)["crc"]
        return total, crcs
    return _digest_part(device, offset, crcs), crcs


def _digest_part(device: Device, offset: int, crcs: np.ndarray) -> int:
    """Sum of the len(crcs) entries at device `offset`; their stored CRCs go into `crcs`."""
    count = len(crcs)
    total = 0
    raw = bytearray(min(count, _CHUNK_ENTRIES) * LOG_ENTRY_SIZE)
    chunk = np.frombuffer(raw, dtype="<u8")
    done = 0
    while done < count:
        n = min(_CHUNK_ENTRIES, count - done)
        got = os.preadv(device.fd, [memoryview(raw)[:n * LOG_ENTRY_SIZE]],
                        offset + done * LOG_ENTRY_SIZE)
        if got != n * LOG_ENTRY_SIZE:
            raise OSError(f"short read of the log of {device.path}")
        words = chunk[:n * LOG_ENTRY_SIZE // 8]
        total = (total + int(words.sum(dtype=np.uint64))) & _MASK64
        crcs[done:done + n] = words.view(ENTRY_DTYPE)["crc"]
        done += n
    return total


def log_sum(device: Device, sb: Superblock, start: int, stop: int) -> int:
    """The 64-bit sum of the bytes of log entries [start, stop) (see log_digest)."""
    return log_digest(device, sb, start, stop)[0]


# --- reading ---------------------------------------------------------------------------------

def load(device: Device, sb: Superblock, header: LogHeader) -> Restored | None:
    """The index of this device, if there is one and every check passes; None otherwise."""
    if not enabled(header.next_index):
        return None
    try:
        raw = _read_own_file(index_path(device, sb))
    except OSError:
        return None
    if raw is None:
        return None
    try:
        restored = _decode(raw, device, sb, header)
    except (ValueError, KeyError, TypeError, IndexError, struct.error):
        return None
    if restored is None:
        return None
    if not _matches_log(restored, device, sb):
        return None
    with contextlib.suppress(OSError):
        os.utime(index_path(device, sb))  # used: kept longest by _prune
    return restored


def _read_own_file(path: str) -> mmap.mmap | None:
    """The bytes of `path` (mapped, private) if it is a regular file of this user's, closed
    to others."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() \
                or st.st_mode & 0o077 or st.st_size == 0:
            return None
        return mmap.mmap(fd, st.st_size, mmap.MAP_PRIVATE, mmap.PROT_READ)
    finally:
        os.close(fd)


def _decode(raw: mmap.mmap, device: Device, sb: Superblock, header: LogHeader) -> Restored | None:
    if len(raw) < _HEAD.size + _TRAILER.size:
        return None
    magic, version, meta_len = _HEAD.unpack_from(raw)
    if magic != INDEX_MAGIC or version != INDEX_VERSION:
        return None
    (crc,) = _TRAILER.unpack_from(raw, len(raw) - _TRAILER.size)
    body = memoryview(raw)[:len(raw) - _TRAILER.size]
    if zlib.crc32(body) != crc or _HEAD.size + meta_len > len(body):
        return None
    meta = json.loads(bytes(body[_HEAD.size:_HEAD.size + meta_len]))
    if meta["superblock"] != bytes(device.buf[:SUPERBLOCK_SIZE]).hex():
        return None
    if tuple(meta["identity"]) != device_identity(device) or meta["log_len"] != sb.log_len:
        return None
    entries = int(meta["entries"])
    if not 0 < entries <= header.next_index:
        return None

    def array(name: str) -> np.ndarray:
        offset, dtype, count = meta["arrays"][name]
        dt = np.dtype(dtype)
        if offset < 0 or count < 0 or offset + count * dt.itemsize > len(body):
            raise ValueError(f"index table {name} lies outside the file")
        return np.frombuffer(body, dtype=dt, count=count, offset=offset)

    entry, parent, is_dir = array("entry"), array("parent"), array("is_dir")
    nodes = NodeArrays(entry, parent, is_dir, array("child_start"), array("child_ids"),
                       array("hashes"), array("hash_nodes"),
                       {int(n): p for n, p in meta["implicit"]})
    m = len(entry)
    if not m or len(parent) != m or len(is_dir) != m or len(nodes.child_start) != m + 1 \
            or len(nodes.child_ids) != m - 1 or len(nodes.hashes) != m - 1 \
            or len(nodes.hash_nodes) != m - 1:
        return None
    if int(entry.max()) >= entries or int(parent.max()) >= m or int(parent.min()) < 0 \
            or int(nodes.child_start[-1]) != m - 1:
        return None
    if m > 1 and (int(nodes.child_ids.min()) < 1 or int(nodes.child_ids.max()) >= m
                  or int(nodes.hash_nodes.min()) < 1 or int(nodes.hash_nodes.max()) >= m):
        return None
    if any(not 0 < n < m or entry[n] >= 0 for n in nodes.implicit):
        return None
    crcs = array("crcs")
    if len(crcs) != entries:
        return None
    runs = {int(dev): (array(f"runs{dev}_starts").tolist(), array(f"runs{dev}_ends").tolist())
            for dev in meta["runs"]}
    restored = Restored(
        entries=entries, log_sum=int(meta["sum"]), nodes=nodes,
        counts=(int(meta["counts"][0]), int(meta["counts"][1]), int(meta["counts"][2])),
        conflicts=[Conflict(int(i), str(p), str(r)) for i, p, r in meta["conflicts"]],
        collisions=[Collision(int(d), int(o), int(i), int(n)) for d, o, i, n
                    in meta["collisions"]],
        devices={int(k): (uuid.UUID(u), int(n)) for k, (u, n) in meta["devices"].items()},
        runs=runs, crcs=crcs)
    return restored


def _matches_log(restored: Restored, device: Device, sb: Superblock) -> bool:
    """Whether the log's first `restored.entries` entries are the ones the index was made
    from: the sum of their bytes equal, and every stored CRC equal."""
    try:
        total, crcs = log_digest(device, sb, 0, restored.entries)
    except OSError:
        return False
    return total == restored.log_sum and restored.crcs is not None \
        and bool(np.array_equal(crcs, restored.crcs))


# --- writing ---------------------------------------------------------------------------------

def save(device: Device, sb: Superblock, restored: Restored) -> bool:
    """Write the index of `restored` for this device (atomically: a reader sees the old file
    or the new one). Returns False when the index directory cannot be used; never raises for
    that."""
    directory = index_dir()
    try:
        os.makedirs(directory, mode=INDEX_DIR_MODE, exist_ok=True)
        st = os.stat(directory, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return False
        parts = _encode(device, sb, restored)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".tmp")
        try:
            os.fchmod(fd, INDEX_FILE_MODE)
            _write_all(fd, parts)
            os.close(fd)
            fd = -1
            os.replace(tmp, index_path(device, sb))
        except BaseException:
            if fd >= 0:
                os.close(fd)
            os.unlink(tmp)
            raise
        _prune(directory)
    except OSError:
        return False
    return True


KEEP_INDEXES = 32
"""Index files kept in the directory; beyond that the ones least recently used go."""


def _prune(directory: str) -> None:
    """Remove this user's least recently used index files beyond KEEP_INDEXES (an index of an
    image that is gone is never used again)."""
    found = []
    with os.scandir(directory) as it:
        for item in it:
            if item.name.endswith(".idx") and item.is_file(follow_symlinks=False):
                st = item.stat(follow_symlinks=False)
                if st.st_uid == os.geteuid():
                    found.append((st.st_mtime_ns, item.path))
    found.sort()
    for _, path in found[:max(0, len(found) - KEEP_INDEXES)]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _encode(device: Device, sb: Superblock, restored: Restored) -> list[memoryview]:
    """The bytes of the index file of `restored`, as parts to write one after another: the
    head and description, then each table (a view of its array, not a copy) after the
    padding that aligns it, then the CRC trailer."""
    nodes = restored.nodes
    tables: dict[str, np.ndarray] = {
        "entry": _as(nodes.entry, "<i4"), "parent": _as(nodes.parent, "<i4"),
        "is_dir": _as(nodes.is_dir, "u1"), "child_start": _as(nodes.child_start, "<i8"),
        "child_ids": _as(nodes.child_ids, "<i4"), "hashes": _as(nodes.hashes, "<u8"),
        "hash_nodes": _as(nodes.hash_nodes, "<i4"),
        "crcs": _crcs_for(device, sb, restored),
    }
    for dev, (starts, ends) in restored.runs.items():
        tables[f"runs{dev}_starts"] = np.array(starts, dtype="<i8")
        tables[f"runs{dev}_ends"] = np.array(ends, dtype="<i8")
    meta: dict[str, object] = {
        "superblock": bytes(device.buf[:SUPERBLOCK_SIZE]).hex(),
        "identity": list(device_identity(device)), "log_len": sb.log_len,
        "entries": restored.entries, "sum": restored.log_sum, "counts": list(restored.counts),
        "conflicts": [[c.index, c.relpath, c.reason] for c in restored.conflicts],
        "collisions": [[c.devindex, c.offset, c.entry_index, c.length]
                       for c in restored.collisions],
        "devices": {str(k): [str(u), n] for k, (u, n) in restored.devices.items()},
        "implicit": sorted([n, p] for n, p in nodes.implicit.items()),
        "runs": sorted(restored.runs),
    }
    # Table offsets depend on the description's length, which holds them: lay out with room.
    arrays: dict[str, list[object]] = {}
    meta["arrays"] = arrays
    guess = len(json.dumps(meta)) + 64 * len(tables) + 64
    while True:
        pos = _align(_HEAD.size + guess)
        for name, table in tables.items():
            arrays[name] = [pos, table.dtype.str, len(table)]
            pos = _align(pos + table.nbytes)
        text = json.dumps(meta).encode()
        if len(text) <= guess:
            break
        guess = len(text) + 256
    out = bytearray(_align(_HEAD.size + guess))
    _HEAD.pack_into(out, 0, INDEX_MAGIC, INDEX_VERSION, len(text))
    out[_HEAD.size:_HEAD.size + len(text)] = text
    parts = [memoryview(out)]
    pos = len(out)
    for name, table in tables.items():
        start = arrays[name][0]
        assert isinstance(start, int)
        if start > pos:
            parts.append(memoryview(bytes(start - pos)))
        if table.nbytes:
            parts.append(table.view(np.uint8).data)
        pos = start + table.nbytes
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    parts.append(memoryview(_TRAILER.pack(crc)))
    return parts


def _as(table: np.ndarray, dtype: str) -> np.ndarray:
    """`table` as a contiguous array of `dtype` (itself when it is one already)."""
    return np.ascontiguousarray(table, dtype=np.dtype(dtype))


_WRITEV_PARTS = 512
"""Most parts handed to one writev (below any system's IOV_MAX)."""


def _write_all(fd: int, parts: list[memoryview]) -> None:
    """Write `parts` to `fd` one after another, whole (short writes resumed)."""
    todo = [part for part in parts if part.nbytes]
    while todo:
        done = os.writev(fd, todo[:_WRITEV_PARTS])
        while todo and done >= todo[0].nbytes:
            done -= todo[0].nbytes
            todo.pop(0)
        if done:
            todo[0] = todo[0][done:]


def _crcs_for(device: Device, sb: Superblock, restored: Restored) -> np.ndarray:
    """The stored CRCs of entries [0, restored.entries): those `restored` carries (read when
    its index was checked), then the rest from the log."""
    known = restored.crcs if restored.crcs is not None else np.zeros(0, dtype=np.uint64)
    known = known[:restored.entries]
    rest = log_digest(device, sb, len(known), restored.entries)[1]
    return np.concatenate([known, rest]).astype("<u8", copy=False)


def _align(n: int) -> int:
    return -(-n // 8) * 8
