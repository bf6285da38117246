"""Superblocks: the primary's 200 bytes at device offset 0, and the superblock of a secondary
device of a multi-device famfs.

The primary superblock is the reference's, byte for byte (version 48). A secondary device
carries its own superblock, in the layout of the multi-daxdev roadmap's Phase 2 (the primary's
device UUID placed before the CRC, so that the CRC covers it), under the next superblock
version: today's reference tools refuse it as a superblock of another version instead of
taking the secondary for a filesystem of its own. The secondary layout is provisional
(docs/multi-device.md).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

from famfs.errors import CorruptError, NoSuperblockError, SecondaryDeviceError, WrongVersionError
from famfs.omf.layout import (
    ALLOC_UNIT,
    LOG_OFFSET,
    MAX_ALLOC_UNITS,
    MIN_LOG_LEN,
    OMF_MAJOR,
    OMF_MINOR,
    SUPERBLOCK_MAGIC,
    SUPERBLOCK_REGION,
    SUPERBLOCK_VERSION,
    is_power_of_two,
)

PRIMARY_SB = 1 << 0
"""ts_sb_flags: the primary device of a filesystem (the reference defines it; mkfs leaves the
flags 0, which means the same)."""
SECONDARY_SB = 1 << 1
"""ts_sb_flags: a secondary device of a filesystem."""
SECONDARY_VERSION = SUPERBLOCK_VERSION + 1
"""Superblock version of a secondary device: the layout with ts_primary_dev_uuid."""

# Reference struct famfs_superblock:
#   0 ts_magic u64        8 ts_version u64      16 ts_log_offset u64   24 ts_log_len u64
#  32 ts_alloc_unit u64  40 ts_omf_ver_major u32 44 ts_omf_ver_minor u32
#  48 ts_uuid[16]        64 ts_dev_uuid[16]     80 ts_system_uuid[16]
#  96 ts_crc u64 (CRC-32 of bytes [0, 96))     104 ts_sb_flags u32     108 pad u32
# 112 ts_daxdev.dd_size u64   120 ts_daxdev.dd_uuid[16]   136 ts_daxdev.dd_daxdev[64]
_SB = struct.Struct("<QQQQQII16s16s16sQII Q16s64s")
SUPERBLOCK_SIZE = _SB.size
_CRC_SPAN = 96
assert SUPERBLOCK_SIZE == 200


@dataclass(frozen=True)
class Superblock:
    """Decoded superblock fields. Sizes and offsets in bytes."""

    log_len: int
    device_size: int
    device_name: str
    fs_uuid: uuid.UUID
    dev_uuid: uuid.UUID
    system_uuid: uuid.UUID
    alloc_unit: int = ALLOC_UNIT
    log_offset: int = LOG_OFFSET
    magic: int = SUPERBLOCK_MAGIC
    version: int = SUPERBLOCK_VERSION
    omf_major: int = OMF_MAJOR
    omf_minor: int = OMF_MINOR
    sb_flags: int = 0
    device_uuid: bytes = field(default=bytes(16))
    crc: int = 0

    def encode(self) -> bytes:
        """The 200 superblock bytes, with the CRC computed over bytes [0, 96)."""
        name = self.device_name.encode()
        if len(name) > 63:
            raise ValueError(f"device name {self.device_name!r} is longer than 63 bytes")
        raw = _SB.pack(
            self.magic, self.version, self.log_offset, self.log_len, self.alloc_unit,
            self.omf_major, self.omf_minor, self.fs_uuid.bytes, self.dev_uuid.bytes,
            self.system_uuid.bytes, 0, self.sb_flags, 0, self.device_size, self.device_uuid, name,
        )
        crc = zlib.crc32(raw[:_CRC_SPAN])
        return raw[:_CRC_SPAN] + struct.pack("<Q", crc) + raw[_CRC_SPAN + 8:]

    @classmethod
    def decode(cls, buf: bytes | memoryview, device_size: int | None = None) -> Superblock:
        """Decode and check a superblock.

        Raises NoSuperblockError on a bad magic, WrongVersionError on a valid superblock of
        another version, CorruptError naming the field for anything else. `device_size` is the
        size the device has now; when given, the log must lie inside it.
        """
        if len(buf) < SUPERBLOCK_SIZE:
            raise CorruptError("superblock", "size", f"{len(buf)} bytes, need {SUPERBLOCK_SIZE}")
        (magic, version, log_offset, log_len, alloc_unit, major, minor, fs_uuid, dev_uuid,
         system_uuid, crc, sb_flags, _pad, dd_size, dd_uuid, dd_name) = _SB.unpack_from(buf)
        if magic != SUPERBLOCK_MAGIC:
            raise NoSuperblockError("superblock", "magic",
                                    f"{magic:#x} is not the famfs magic {SUPERBLOCK_MAGIC:#x}")
        if version == SECONDARY_VERSION:
            _refuse_secondary(buf, device_size)
        want = zlib.crc32(bytes(buf[:_CRC_SPAN]))
        if crc != want:
            raise CorruptError("superblock", "crc", f"stored {crc:#x}, computed {want:#x}")
        if version != SUPERBLOCK_VERSION:
            raise WrongVersionError("superblock", "version",
                                    f"version {version}, this tool reads {SUPERBLOCK_VERSION}")
        if major != OMF_MAJOR:
            raise WrongVersionError("superblock", "omf_major",
                                    f"on-media format {major}.{minor}, this tool reads "
                                    f"{OMF_MAJOR}.x")
        if alloc_unit not in (ALLOC_UNIT, 4096):
            raise CorruptError("superblock", "alloc_unit", f"{alloc_unit:#x} is not 2 MiB or 4 KiB")
        if log_offset != LOG_OFFSET:
            raise CorruptError("superblock", "log_offset",
                               f"{log_offset:#x}, expected {LOG_OFFSET:#x}")
        if sb_flags & SECONDARY_SB:
            raise CorruptError("superblock", "sb_flags",
                               f"{sb_flags:#x} marks a secondary device, but the superblock has "
                               f"the primary's layout (version {version})")
        if not is_power_of_two(log_len) or log_len < MIN_LOG_LEN:
            raise CorruptError("superblock", "log_len",
                               f"{log_len:#x} is not a power of two of at least 8 MiB")
        if dd_size < log_offset + log_len:
            raise CorruptError("superblock", "daxdev.size",
                               f"{dd_size:#x} is smaller than the end of the log")
        if dd_size // alloc_unit > MAX_ALLOC_UNITS:
            raise CorruptError("superblock", "daxdev.size",
                               f"{dd_size:#x} bytes is more than {MAX_ALLOC_UNITS} allocation "
                               f"units")
        if device_size is not None and log_offset + log_len > device_size:
            raise CorruptError("superblock", "log_len",
                               f"log ends at {log_offset + log_len:#x}, past the device end "
                               f"{device_size:#x}")
        name = bytes(dd_name).split(b"\0", 1)[0].decode(errors="replace")
        return cls(
            log_len=log_len, device_size=dd_size, device_name=name,
            fs_uuid=uuid.UUID(bytes=bytes(fs_uuid)), dev_uuid=uuid.UUID(bytes=bytes(dev_uuid)),
            system_uuid=uuid.UUID(bytes=bytes(system_uuid)), alloc_unit=alloc_unit,
            log_offset=log_offset, magic=magic, version=version, omf_major=major,
            omf_minor=minor, sb_flags=sb_flags, device_uuid=bytes(dd_uuid), crc=crc,
        )


# Secondary superblock (provisional; the multi-daxdev roadmap's Phase 2 layout, version 49):
#   0 ts_magic u64        8 ts_version u64 (49)  16 ts_log_offset u64 (0)  24 ts_log_len u64 (0)
#  32 ts_alloc_unit u64  40 ts_omf_ver_major u32 44 ts_omf_ver_minor u32
#  48 ts_uuid[16] (the filesystem)   64 ts_dev_uuid[16] (this device)   80 ts_system_uuid[16]
#  96 ts_primary_dev_uuid[16]       112 ts_crc u64 (CRC-32 of bytes [0, 112))
# 120 ts_sb_flags u32 (SECONDARY_SB)  124 pad u32
# 128 ts_daxdev.dd_size u64   136 ts_daxdev.dd_uuid[16] (= ts_dev_uuid)   152 dd_daxdev[64]
_SECONDARY = struct.Struct("<QQQQQII16s16s16s16sQII Q16s64s")
SECONDARY_SIZE = _SECONDARY.size
_SECONDARY_CRC_SPAN = 112
assert SECONDARY_SIZE == 216
MIN_SECONDARY_SIZE = SUPERBLOCK_REGION + ALLOC_UNIT
"""Smallest secondary device: its superblock region and one allocation unit."""


@dataclass(frozen=True)
class SecondarySuperblock:
    """The superblock of secondary device `dev_uuid` of filesystem `fs_uuid`, whose primary
    device is `primary_uuid`. Sizes in bytes. It references no log."""

    fs_uuid: uuid.UUID
    dev_uuid: uuid.UUID
    primary_uuid: uuid.UUID
    system_uuid: uuid.UUID
    device_size: int
    device_name: str
    alloc_unit: int = ALLOC_UNIT
    magic: int = SUPERBLOCK_MAGIC
    version: int = SECONDARY_VERSION
    omf_major: int = OMF_MAJOR
    omf_minor: int = OMF_MINOR
    sb_flags: int = SECONDARY_SB
    crc: int = 0

    def encode(self) -> bytes:
        """The 216 superblock bytes, with the CRC computed over bytes [0, 112)."""
        name = self.device_name.encode()
        if len(name) > 63:
            raise ValueError(f"device name {self.device_name!r} is longer than 63 bytes")
        raw = _SECONDARY.pack(
            self.magic, self.version, 0, 0, self.alloc_unit, self.omf_major, self.omf_minor,
            self.fs_uuid.bytes, self.dev_uuid.bytes, self.system_uuid.bytes,
            self.primary_uuid.bytes, 0, self.sb_flags, 0, self.device_size, self.dev_uuid.bytes,
            name)
        crc = zlib.crc32(raw[:_SECONDARY_CRC_SPAN])
        return (raw[:_SECONDARY_CRC_SPAN] + struct.pack("<Q", crc)
                + raw[_SECONDARY_CRC_SPAN + 8:])

    @classmethod
    def decode(cls, buf: bytes | memoryview, device_size: int | None = None
               ) -> SecondarySuperblock:
        """Decode and check a secondary superblock (NoSuperblockError on a bad magic,
        WrongVersionError on another version, CorruptError naming the field otherwise).
        `device_size`, when given, is the size the device has now."""
        if len(buf) < SECONDARY_SIZE:
            raise CorruptError("secondary superblock", "size",
                               f"{len(buf)} bytes, need {SECONDARY_SIZE}")
        (magic, version, log_offset, log_len, alloc_unit, major, minor, fs_uuid, dev_uuid,
         system_uuid, primary_uuid, crc, flags, _pad, dd_size, dd_uuid,
         dd_name) = _SECONDARY.unpack_from(buf)
        what = "secondary superblock"
        if magic != SUPERBLOCK_MAGIC:
            raise NoSuperblockError(what, "magic",
                                    f"{magic:#x} is not the famfs magic {SUPERBLOCK_MAGIC:#x}")
        if version != SECONDARY_VERSION:
            raise WrongVersionError(what, "version",
                                    f"version {version}, secondary devices are version "
                                    f"{SECONDARY_VERSION}")
        want = zlib.crc32(bytes(buf[:_SECONDARY_CRC_SPAN]))
        if crc != want:
            raise CorruptError(what, "crc", f"stored {crc:#x}, computed {want:#x}")
        if major != OMF_MAJOR:
            raise WrongVersionError(what, "omf_major",
                                    f"on-media format {major}.{minor}, this tool reads "
                                    f"{OMF_MAJOR}.x")
        if not flags & SECONDARY_SB or flags & PRIMARY_SB:
            raise CorruptError(what, "sb_flags", f"{flags:#x} does not mark a secondary device")
        if log_offset or log_len:
            raise CorruptError(what, "log_offset",
                               f"a secondary references no log, but it says {log_len:#x} "
                               f"bytes at {log_offset:#x}")
        if alloc_unit not in (ALLOC_UNIT, 4096):
            raise CorruptError(what, "alloc_unit", f"{alloc_unit:#x} is not 2 MiB or 4 KiB")
        if dd_size < MIN_SECONDARY_SIZE or dd_size // alloc_unit > MAX_ALLOC_UNITS:
            raise CorruptError(what, "daxdev.size", f"{dd_size:#x} bytes is not a usable size")
        if bytes(dd_uuid) != bytes(dev_uuid):
            raise CorruptError(what, "daxdev.uuid", "differs from the device UUID")
        if device_size is not None and device_size < MIN_SECONDARY_SIZE:
            raise CorruptError(what, "daxdev.size",
                               f"the device is only {device_size:#x} bytes")
        name = bytes(dd_name).split(b"\0", 1)[0].decode(errors="replace")
        return cls(
            fs_uuid=uuid.UUID(bytes=bytes(fs_uuid)), dev_uuid=uuid.UUID(bytes=bytes(dev_uuid)),
            primary_uuid=uuid.UUID(bytes=bytes(primary_uuid)),
            system_uuid=uuid.UUID(bytes=bytes(system_uuid)), device_size=dd_size,
            device_name=name, alloc_unit=alloc_unit, magic=magic, version=version,
            omf_major=major, omf_minor=minor, sb_flags=flags, crc=crc)


MemberSuperblock = Superblock | SecondarySuperblock


def _refuse_secondary(buf: bytes | memoryview, device_size: int | None) -> None:
    """Raise SecondaryDeviceError for the secondary superblock in `buf` (CorruptError if it
    is not a valid one)."""
    if len(buf) >= SECONDARY_SIZE:
        sb = SecondarySuperblock.decode(buf, device_size)
        raise SecondaryDeviceError(sb.fs_uuid, sb.primary_uuid, sb.dev_uuid)
    head = bytes(buf[:_SECONDARY_CRC_SPAN + 8])
    (crc,) = struct.unpack_from("<Q", head, _SECONDARY_CRC_SPAN)
    if crc != zlib.crc32(head[:_SECONDARY_CRC_SPAN]):
        raise CorruptError("secondary superblock", "crc", "does not match")
    raise SecondaryDeviceError(uuid.UUID(bytes=head[48:64]), uuid.UUID(bytes=head[96:112]),
                               uuid.UUID(bytes=head[64:80]))


def decode_member(buf: bytes | memoryview, device_size: int | None = None) -> MemberSuperblock:
    """The superblock of any device of a famfs: a primary (Superblock) or a secondary
    (SecondarySuperblock). Raises as their decoders do."""
    try:
        return Superblock.decode(buf, device_size)
    except SecondaryDeviceError:
        return SecondarySuperblock.decode(buf, device_size)


def has_superblock_magic(buf: bytes | memoryview) -> bool:
    """Whether `buf` starts with the famfs magic (a superblock of any version, valid or not)."""
    return len(buf) >= 8 and struct.unpack_from("<Q", buf)[0] == SUPERBLOCK_MAGIC
