"""Exceptions raised by pyfamfs.

Every error carries a message that names what is wrong and where (which entry, which field,
which path), so the command line can print it as is and exit non-zero.
"""

from __future__ import annotations

import errno as _errno


class FamfsError(Exception):
    """Base class of every error pyfamfs raises on purpose."""

    errno: int = _errno.EIO


class CorruptError(FamfsError):
    """On-media data failed a check: the superblock, the log header or a log entry."""

    errno = _errno.EUCLEAN

    def __init__(self, what: str, field: str, detail: str, index: int | None = None) -> None:
        self.what = what
        self.field = field
        self.detail = detail
        self.index = index
        self.device: str | None = None
        where = f"{what} {index}" if index is not None else what
        super().__init__(f"{where}: field {field}: {detail}")

    def on_device(self, device: str) -> CorruptError:
        """This error, its message prefixed with the device it was found on (once)."""
        if self.device is None:
            self.device = device
            self.args = (f"{device}: {self.args[0]}",)
        return self


class WrongVersionError(CorruptError):
    """A superblock that is valid but of another on-media version."""


class NoSuperblockError(CorruptError):
    """No famfs superblock (bad magic): the device holds no famfs filesystem."""


class DeviceError(FamfsError):
    """The device or image could not be opened, sized or mapped."""


class RoleError(FamfsError):
    """An append (creat, mkdir, cp) attempted on a client host."""

    errno = _errno.EPERM


class NoSpaceError(FamfsError):
    """The allocator has no room for the request."""

    errno = _errno.ENOSPC


class LogFullError(FamfsError):
    """The metadata log has no free slot for another entry."""

    errno = _errno.ENOSPC


class PathError(FamfsError):
    """A famfs path is invalid (too long, absolute, climbs out, passes through a file)."""

    errno = _errno.EINVAL


class ExistsError(FamfsError):
    """The target exists already and the operation may not reuse it."""

    errno = _errno.EEXIST


class NotFoundError(FamfsError):
    """No such file or directory in the famfs namespace."""

    errno = _errno.ENOENT


class UsageError(FamfsError):
    """Arguments that do not fit together (command-line or API)."""

    errno = _errno.EINVAL
