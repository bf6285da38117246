"""The metadata log on a device: read entries, append entries (single writer, under a lock)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from famfs.device import Device
from famfs.errors import DeviceError, LogFullError
from famfs.omf.layout import LOG_ENTRY_SIZE, LOG_HEADER_SIZE
from famfs.omf.log import (
    COUNTERS_OFFSET,
    ENTRY_DTYPE,
    ENTRY_HEAD_SIZE,
    NEXT_INDEX,
    NEXT_INDEX_OFFSET,
    EntryType,
    FileEntry,
    LogEntry,
    LogHeader,
    Payload,
    decode_entries,
    decode_entry,
    encode_records,
    entry_head,
    entry_offset,
    file_heads,
    set_crcs,
)
from famfs.omf.superblock import Superblock

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


@dataclass(frozen=True)
class EntryHead:
    """What a namespace node needs from its entry: path, permission bits, owner, file size."""

    relpath: str
    is_dir: bool
    mode: int
    uid: int
    gid: int
    size: int
    flags: int = 0


class FileHeads(NamedTuple):
    """`EntryHead` of many FILE entries, as columns (one item per entry, in order)."""

    relpaths: list[str]
    modes: list[int]
    uids: list[int]
    gids: list[int]
    sizes: list[int]
    flags: list[int]


class MetadataLog:
    """The log region of `device` described by superblock `sb`."""

    def __init__(self, device: Device, sb: Superblock) -> None:
        self.device = device
        self.sb = sb
        self.base = sb.log_offset
        device.check_range(self.base, sb.log_len)

    def header(self) -> LogHeader:
        """The header as it is on the device now (checked)."""
        return LogHeader.decode(self.device.buf[self.base:self.base + LOG_HEADER_SIZE],
                                self.sb.log_len)

    def next_index(self) -> int:
        """The header's next_index as it is on the device now, read without the header's
        checks: a cheap test of whether entries were appended (`header()` checks it all)."""
        return int(NEXT_INDEX.unpack_from(self.device.buf, self.base + NEXT_INDEX_OFFSET)[0])

    def entries(self, start: int, stop: int) -> Iterator[LogEntry]:
        """Decode slots [start, stop) in order; a bad slot raises CorruptError naming it."""
        buf = self.device.buf
        off = self.base + entry_offset(start)
        for index in range(start, stop):
            yield decode_entry(buf, index, off)
            off += LOG_ENTRY_SIZE

    def entry(self, index: int) -> LogEntry:
        """Decode (and check) slot `index`."""
        return decode_entry(self.device.buf, index, self.base + entry_offset(index))

    def file_entry(self, index: int) -> FileEntry:
        """The payload of FILE entry `index` (checked again as it is decoded)."""
        payload = self.entry(index).payload
        if not isinstance(payload, FileEntry):
            raise TypeError(f"log entry {index} is not a FILE entry")
        return payload

    def records(self, indices: np.ndarray) -> np.ndarray:
        """Copies of the entries in slots `indices` (in that order), as a C-contiguous
        ENTRY_DTYPE array, unchecked: see `suspect_records` for what must be decoded one at
        a time."""
        if not len(indices):
            return np.zeros(0, dtype=ENTRY_DTYPE)
        count = int(np.max(indices)) + 1
        self.device.check_range(self.base + entry_offset(0), count * LOG_ENTRY_SIZE)
        rows = np.frombuffer(self.device.buf, dtype=np.uint8, count=count * LOG_ENTRY_SIZE,
                             offset=self.base + entry_offset(0)).reshape(count, LOG_ENTRY_SIZE)
        # Whole rows of bytes are gathered: a structured copy would leave the bytes no field
        # names (padding) undefined.
        return rows[indices].view(ENTRY_DTYPE).reshape(len(indices))

    def entry_head(self, index: int) -> EntryHead:
        """Path, mode, owner and size of FILE or MKDIR entry `index`, read without checks:
        only for entries a replay has checked already. Image files are read with pread, so
        that looking at many entries does not map the log into this process page by page."""
        offset = self.base + entry_offset(index)
        if self.device.is_dax:
            etype, raw, mode, uid, gid, size, flags = entry_head(self.device.buf, offset)
        else:
            etype, raw, mode, uid, gid, size, flags = entry_head(
                os.pread(self.device.fd, ENTRY_HEAD_SIZE, offset), 0)
        return EntryHead(os.fsdecode(raw), etype == EntryType.MKDIR, mode, uid, gid, size,
                         flags)

    def file_heads(self, indices: Sequence[int]) -> FileHeads:
        """`entry_head` of each of FILE entries `indices`, in columns: one read of each head
        (pread on image files, as `entry_head`), decoded together. Only for entries a replay
        has checked already."""
        count = len(indices)
        first = self.base + entry_offset(0)
        if self.device.is_dax:
            slots = max(indices, default=-1) + 1
            self.device.check_range(first, slots * LOG_ENTRY_SIZE)
            rows = np.frombuffer(self.device.buf, dtype=np.uint8, count=slots * LOG_ENTRY_SIZE,
                                 offset=first).reshape(slots, LOG_ENTRY_SIZE)
            blob = rows[list(indices), :ENTRY_HEAD_SIZE].tobytes()
        else:
            pread, fd = os.pread, self.device.fd
            offsets = (np.asarray(indices, dtype=np.int64) * LOG_ENTRY_SIZE + first).tolist()
            blob = b"".join([pread(fd, ENTRY_HEAD_SIZE, at) for at in offsets])
            if len(blob) != count * ENTRY_HEAD_SIZE:
                raise DeviceError(f"{self.device.path}: short read of the log")
        raws, modes, uids, gids, sizes, flags = file_heads(blob, count)
        encoding, errors = _FS_ENCODING, _FS_ERRORS  # what os.fsdecode does, without its checks
        return FileHeads([r.decode(encoding, errors) for r in raws], modes, uids, gids, sizes,
                         flags)

    def append(self, payloads: Sequence[Payload]) -> int:
        """Append `payloads` as new entries; return the index of the first.

        The caller holds the device's append lock, has replayed the log up to the current
        header and has checked each payload against the filesystem. Every entry is encoded and
        decoded back before anything is written, so a payload that does not survive the round
        trip changes nothing. Each entry is written whole before the header counters move; the
        two counters move together in a single 16-byte store, so a reader never trusts a
        partial entry.
        """
        first = self._first_free(len(payloads))
        return self._write(first, encode_records(payloads))

    def append_records(self, records: np.ndarray) -> int:
        """Append entries given as an ENTRY_DTYPE array (payload fields filled in; seqnum and
        CRC are set here); return the index of the first. For writing many entries at once
        (building test and benchmark images): the same contract as `append`, and the same
        round trip through the decoder before anything is written."""
        first = self._first_free(len(records))
        return self._write(first, np.array(records, dtype=ENTRY_DTYPE, copy=True))

    def _first_free(self, count: int) -> int:
        """The index of the next slot; LogFullError unless `count` more slots are free."""
        head = self.header()
        if head.next_index + count > head.slots:
            raise LogFullError(f"log full: {head.next_index} of {head.slots} slots used, "
                               f"{count} more needed")
        return head.next_index

    def _write(self, first: int, records: np.ndarray) -> int:
        """Number `records` (a writable ENTRY_DTYPE array) from slot `first`, set their CRCs,
        decode them back, then write them and move the header counters."""
        count = len(records)
        records["seqnum"] = np.arange(first, first + count, dtype=np.uint64)
        set_crcs(records)
        blob = records.tobytes()
        _check_decodes(blob, first, count)
        self.device.pwrite(self.base + entry_offset(first), blob)
        end = first + count
        pos = self.base + COUNTERS_OFFSET
        self.device.buf[pos:pos + 16] = end.to_bytes(8, "little") * 2
        return first

    def flush(self) -> None:
        """Make the log durable (msync of the log region)."""
        self.device.flush(self.base, self.sb.log_len)


def _check_decodes(blob: bytes, first: int, count: int) -> None:
    """Raise what decode_entry would raise for any of the `count` entries in `blob` (slots
    from `first`): the bulk checks pass most of them, the rest are decoded one by one."""
    if count < 16:
        for i in range(count):
            decode_entry(blob, first + i, i * LOG_ENTRY_SIZE)
        return
    for pos in decode_entries(blob, 0, first, count).slow.tolist():
        decode_entry(blob, first + pos, pos * LOG_ENTRY_SIZE)
