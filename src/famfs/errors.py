"""Exceptions raised by pyfamfs.

Every error is an `OSError` with an errno, and subclasses the matching built-in where one exists
(`NotFoundError` is a `FileNotFoundError`, `RoleError` a `PermissionError`, ...), so Python
users catch famfs errors the way they catch any other file error. `str(exc)` (and
`exc.strerror`) is the message, which names what is wrong and where (which entry, which field,
which path), so the command line can print it as is and exit non-zero.
"""

from __future__ import annotations

import errno as _errno
from typing import Any


def _restore(cls: type[FamfsError], code: int, message: str, state: dict[str, Any]
             ) -> FamfsError:
    exc = cls.__new__(cls)
    OSError.__init__(exc, code, message)
    exc.__dict__.update(state)
    return exc


class FamfsError(OSError):
    """Base class of every error pyfamfs raises on purpose. `errno` defaults to the class's
    `default_errno`; `strerror` is the message."""

    default_errno: int = _errno.EIO

    def __init__(self, message: str = "", errno: int | None = None) -> None:
        super().__init__(self.default_errno if errno is None else errno, message)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self.errno, str(self), dict(self.__dict__))

    def with_message(self, message: str) -> FamfsError:
        """This error, its message replaced (same class, errno and attributes)."""
        self.strerror = message
        self.args = (self.errno, message)
        return self


class CorruptError(FamfsError):
    """On-media data failed a check: the superblock, the log header or a log entry."""

    default_errno = _errno.EUCLEAN

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
            self.with_message(f"{device}: {self}")
        return self


class WrongVersionError(CorruptError):
    """A superblock that is valid but of another on-media version."""


class NoSuperblockError(CorruptError):
    """No famfs superblock (bad magic): the device holds no famfs filesystem."""


class DeviceError(FamfsError):
    """The device or image could not be opened, sized, mapped or written."""


class SecondaryDeviceError(CorruptError):
    """The device is a secondary device of a multi-device famfs: it has no log of its own,
    and the filesystem is opened through its primary device (`primary_uuid`)."""

    default_errno = _errno.EMEDIUMTYPE

    def __init__(self, fs_uuid: object, primary_uuid: object, dev_uuid: object) -> None:
        super().__init__("superblock", "sb_flags",
                         f"a secondary device (device UUID {dev_uuid}) of famfs {fs_uuid}; name "
                         f"its primary device instead (device UUID {primary_uuid}; famfs "
                         f"daxdev resolve {fs_uuid} {primary_uuid} finds it)")
        self.fs_uuid = fs_uuid
        self.primary_uuid = primary_uuid
        self.dev_uuid = dev_uuid


class MissingDeviceError(DeviceError):
    """A device of a multi-device famfs is not found on this host (by its UUID)."""

    default_errno = _errno.ENODEV

    def __init__(self, message: str, index: int, dev_uuid: object) -> None:
        super().__init__(message)
        self.index = index
        self.dev_uuid = dev_uuid


class RoleError(FamfsError, PermissionError):
    """An append (creat, mkdir, cp) attempted on a client host."""

    default_errno = _errno.EPERM


class AccessError(FamfsError, PermissionError):
    """The file modes (or the filesystem's read-only flags) deny the operation."""

    default_errno = _errno.EACCES


class NoSpaceError(FamfsError):
    """The allocator (or the device's backing store) has no room for the request."""

    default_errno = _errno.ENOSPC


class LogFullError(FamfsError):
    """The metadata log has no free slot for another entry."""

    default_errno = _errno.ENOSPC


class PathError(FamfsError):
    """A famfs path is invalid (too long, absolute, climbs out, passes through a file)."""

    default_errno = _errno.EINVAL


class ExistsError(FamfsError, FileExistsError):
    """The target exists already and the operation may not reuse it."""

    default_errno = _errno.EEXIST


class NotFoundError(FamfsError, FileNotFoundError):
    """No such file or directory in the famfs namespace."""

    default_errno = _errno.ENOENT


class IsDirectoryError(FamfsError, IsADirectoryError):
    """A file operation named a directory."""

    default_errno = _errno.EISDIR


class NotDirectoryError(PathError, NotADirectoryError):
    """A directory operation (or a path component) named a file."""

    default_errno = _errno.ENOTDIR


class UsageError(FamfsError):
    """Arguments that do not fit together (command-line or API)."""

    default_errno = _errno.EINVAL


class InterruptError(FamfsError, InterruptedError):
    """An operation stopped by a signal before it completed; nothing half-done was logged."""

    default_errno = _errno.EINTR
