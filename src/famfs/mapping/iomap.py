"""The iomap vocabulary: what one resolution of a file offset returns.

`begin(pos, length, flags) -> IoMap` follows the kernel's iomap_begin(): the result covers the
byte at `pos` and may cover less than `length`; the caller does the work for `result.length`
bytes, advances, and resolves again.
"""

from __future__ import annotations

import errno as _errno
from enum import IntEnum
from typing import NamedTuple

from famfs.errors import FamfsError

EHWPOISON = getattr(_errno, "EHWPOISON", 133)
"""errno for a device with a memory error (133 on Linux)."""

# Flags passed to begin(), as the kernel's IOMAP_* request flags.
IOMAP_WRITE = 1 << 0
IOMAP_ZERO = 1 << 1
IOMAP_REPORT = 1 << 2
IOMAP_FAULT = 1 << 3
IOMAP_DIRECT = 1 << 4


class IoMapType(IntEnum):
    """Mapping types, numbered as the kernel numbers them."""

    HOLE = 0
    DELALLOC = 1
    MAPPED = 2
    UNWRITTEN = 3
    INLINE = 4


class IoMap(NamedTuple):
    """File bytes [offset, offset + length) live at byte `addr` of device `dev`."""

    offset: int
    length: int
    addr: int
    type: int
    flags: int
    dev: int

    @property
    def end(self) -> int:
        return self.offset + self.length


class MappingError(FamfsError):
    """A map could not be parsed or an offset could not be resolved.

    `errno` is EIO, or EHWPOISON when the resolution touched a failed device.
    """

    default_errno = _errno.EIO
