"""Making (and killing) a famfs filesystem on a device."""

from __future__ import annotations

import os
import uuid

from famfs.device import Device, create_image, is_device_path
from famfs.errors import DeviceError, FamfsError, UsageError
from famfs.fs.mounts import mount_of
from famfs.fs.roles import system_uuid
from famfs.omf.layout import (
    DEFAULT_LOG_LEN,
    LOG_OFFSET,
    MIN_LOG_LEN,
    is_power_of_two,
    min_device_size,
)
from famfs.omf.log import LogHeader
from famfs.omf.superblock import Superblock, has_superblock_magic


def check_log_len(log_len: int) -> None:
    if not is_power_of_two(log_len) or log_len < MIN_LOG_LEN:
        raise UsageError(f"log length {log_len} must be a power of two of at least 8 MiB")


def mkfs(path: str, log_len: int = DEFAULT_LOG_LEN, force: bool = False,
         size: int | None = None) -> Superblock:
    """Write a superblock and an empty log on `path`; this host becomes the master.

    With `size`, an image file is created (or grown) to `size` bytes first. A device that holds
    a famfs superblock (of any version) is refused unless `force`; a mounted device always is.
    """
    check_log_len(log_len)
    need = min_device_size(log_len)
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, not an image file or DAX device")
    mounted = mount_of(path)
    if mounted:
        raise FamfsError(f"{path}: mounted at {mounted}; unmount it first")
    exists = is_device_path(path)
    if size is not None:
        if exists and not os.path.isfile(path):
            raise UsageError(f"{path}: --size creates image files only")
        if size < need:
            raise UsageError(f"{path}: {size} bytes is too small; a log of {log_len} bytes "
                             f"needs a device of at least {need} bytes")
        if exists and not force and _holds_famfs(path):
            raise FamfsError(f"{path}: holds a famfs filesystem already; use -f to overwrite it")
    elif not exists:
        raise DeviceError(f"{path}: no such image file or DAX device (use --size to create an "
                          f"image)")
    created = size is not None and not exists
    try:
        if size is not None:
            create_image(path, size)
        return _write_empty_fs(path, log_len, force, need)
    except BaseException:
        if created:
            os.unlink(path)
        raise


def _holds_famfs(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return has_superblock_magic(fh.read(8))
    except OSError as exc:
        raise DeviceError(f"{path}: cannot read: {exc.strerror}") from None


def _write_empty_fs(path: str, log_len: int, force: bool, need: int) -> Superblock:
    with Device(path, writable=True) as dev:
        if dev.size < need:
            raise UsageError(f"{path}: {dev.size} bytes is too small; a log of {log_len} bytes "
                             f"needs a device of at least {need} bytes")
        if has_superblock_magic(dev.buf[:8]) and not force:
            raise FamfsError(f"{path}: holds a famfs filesystem already; use -f to overwrite it")
        name = os.path.abspath(path) if not path.startswith("/dev/") else path
        sb = Superblock(log_len=log_len, device_size=dev.size, device_name=name[:63],
                        fs_uuid=uuid.uuid4(), dev_uuid=uuid.uuid4(), system_uuid=system_uuid())
        dev.write(LOG_OFFSET, bytes(log_len))
        dev.write(LOG_OFFSET, LogHeader(log_len=log_len).encode())
        dev.write(0, sb.encode())
        dev.flush(0, LOG_OFFSET + log_len)
        return Superblock.decode(dev.buf[:200], dev.size)


def kill(path: str) -> None:
    """Zero the superblock magic only (`mkfs.famfs -k -f`)."""
    if mount_of(path):
        raise FamfsError(f"{path}: mounted; unmount it first")
    with Device(path, writable=True) as dev:
        dev.write(0, bytes(8))
        dev.flush(0, 8)
