"""Constants of the famfs on-media format: magics, versions, sizes and limits (in bytes)."""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

ALLOC_UNIT = 2 * MiB
"""The allocation unit (AU): every extent offset and length is a multiple of it."""

SUPERBLOCK_MAGIC = 0x87B282FF
SUPERBLOCK_VERSION = 48
OMF_MAJOR = 2
OMF_MINOR = 2
SUPERBLOCK_REGION = 2 * MiB
"""The superblock occupies the first 2 MiB of the device (200 bytes carry fields)."""

LOG_OFFSET = 2 * MiB
LOG_MAGIC = 0xBADCAFEF00D
DEFAULT_LOG_LEN = 8 * MiB
MIN_LOG_LEN = 8 * MiB
LOG_HEADER_SIZE = 48
LOG_ENTRY_SIZE = 544

MAX_PATH = 80
"""Size of the relpath field, NUL included: paths are at most 79 bytes."""

MAX_SIMPLE_EXTENTS = 16
MAX_INTERLEAVED_EXTENTS = 1
MAX_STRIPS = 16
MAX_DEVICES = 64
"""Slots in a connection's device table; device indices are below this."""
MAX_ALLOC_UNITS = 1 << 25
"""Most allocation units a device may have (64 TiB at 2 MiB): bounds what a recorded device
size (not covered by any CRC) can make a reader consider."""

META_DIR = ".meta"
"""The name a mount reserves in the filesystem root for its metadata files (.meta/.superblock,
.meta/.log): no file or directory may be created under it."""

FILE_FLAG_ALL_HOSTS_RO = 1
FILE_FLAG_ALL_HOSTS_RW = 2


def log_last_index(log_len: int) -> int:
    """Index of the last log slot (inclusive) for a log of `log_len` bytes."""
    return (log_len - LOG_HEADER_SIZE) // LOG_ENTRY_SIZE - 1


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def data_start(log_len: int) -> int:
    """First device byte available to files: the AU after the log."""
    return round_up(LOG_OFFSET + log_len, ALLOC_UNIT)


def min_device_size(log_len: int = DEFAULT_LOG_LEN) -> int:
    """Smallest device that holds a superblock, a log of `log_len` and one file of one AU."""
    return data_start(log_len) + ALLOC_UNIT
