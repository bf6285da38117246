"""Making (and killing) a famfs filesystem on a device."""

from __future__ import annotations

import errno
import os
import stat
import struct
import uuid

from famfs.device import Device, create_image, is_device_path
from famfs.errors import CorruptError, DeviceError, FamfsError, UsageError, WrongVersionError
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
from famfs.omf.superblock import (
    SUPERBLOCK_MAGIC,
    SUPERBLOCK_SIZE,
    Superblock,
    has_superblock_magic,
)
from famfs.resolver import forget_device, read_member


def check_log_len(log_len: int) -> None:
    if not is_power_of_two(log_len) or log_len < MIN_LOG_LEN:
        raise UsageError(f"log length {log_len} must be a power of two of at least 8 MiB")


def mkfs(path: str, log_len: int = DEFAULT_LOG_LEN, force: bool = False,
         size: int | None = None) -> Superblock:
    """Write a superblock and an empty log on `path`; this host becomes the master.

    With `size`, an image file is created (or grown) to `size` bytes first; an image this call
    created is removed again if mkfs fails. A device that holds a famfs superblock (of any
    version), or a regular file holding any non-zero byte, is refused unless `force`; a
    mounted device always is.
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
        if exists and not force:
            _check_overwrite(path)
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


ZERO_SCAN_CHUNK = 4 * 1024 * 1024
"""Bytes read at a time when checking that an image file holds no data."""


def _check_overwrite(path: str) -> None:
    """FamfsError unless `path` may be made a famfs without -f: it holds no famfs superblock
    (of any version) and, if it is a regular file, no data (every byte zero or a hole)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceError(f"{path}: cannot read: {exc.strerror}", exc.errno) from None
    try:
        head = os.pread(fd, SUPERBLOCK_SIZE, 0)
        if has_superblock_magic(head):
            raise FamfsError(f"{path}: holds a famfs filesystem already; use -f to overwrite "
                             f"it")
        if _killed_famfs(head):
            return  # `mkfs.famfs -f -k` left it, to be made again (as the reference allows)
        if stat.S_ISREG(os.fstat(fd).st_mode) and _holds_data(fd):
            raise FamfsError(f"{path}: holds data that is not a famfs filesystem; use -f to "
                             f"overwrite it")
    except FamfsError:
        raise
    except OSError as exc:
        raise DeviceError(f"{path}: cannot read: {exc.strerror}", exc.errno) from None
    finally:
        os.close(fd)


def _killed_famfs(head: bytes) -> bool:
    """Whether `head` is a famfs superblock whose magic was zeroed by `kill`: with the magic
    put back, it passes its checks (of any version)."""
    if len(head) < SUPERBLOCK_SIZE or head[:8] != bytes(8):
        return False
    try:
        Superblock.decode(struct.pack("<Q", SUPERBLOCK_MAGIC) + head[8:])
    except WrongVersionError:
        return True
    except CorruptError:
        return False
    return True


def _holds_data(fd: int) -> bool:
    """Whether the regular file `fd` has a non-zero byte (holes are skipped, not read)."""
    size = os.fstat(fd).st_size
    pos = 0
    while pos < size:
        try:
            pos = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only holes from here on
                return False
            raise
        try:
            hole = os.lseek(fd, pos, os.SEEK_HOLE)
        except OSError:
            hole = size
        while pos < hole:
            chunk = os.pread(fd, min(ZERO_SCAN_CHUNK, hole - pos), pos)
            if not chunk:
                return False
            if chunk.count(0) != len(chunk):
                return True
            pos += len(chunk)
    return False


def _write_empty_fs(path: str, log_len: int, force: bool, need: int) -> Superblock:
    with Device(path, writable=True) as dev:
        if dev.size < need:
            raise UsageError(f"{path}: {dev.size} bytes is too small; a log of {log_len} bytes "
                             f"needs a device of at least {need} bytes")
        if not force:
            _check_overwrite(path)
        name = os.path.abspath(path) if not path.startswith("/dev/") else path
        sb = Superblock(log_len=log_len, device_size=dev.size, device_name=name[:63],
                        fs_uuid=uuid.uuid4(), dev_uuid=uuid.uuid4(), system_uuid=system_uuid())
        # Written with pwrite: an image whose filesystem runs out of room is an error here,
        # not a fault later. The superblock goes last, so a failed mkfs leaves no famfs.
        old = read_member(path)
        zeros = bytes(min(log_len, ZERO_SCAN_CHUNK))
        for off in range(0, log_len, len(zeros)):
            dev.pwrite(LOG_OFFSET + off, zeros[:log_len - off])
        dev.pwrite(LOG_OFFSET, LogHeader(log_len=log_len).encode())
        dev.pwrite(0, sb.encode())
        dev.flush(0, LOG_OFFSET + log_len)
        if old is not None:  # this host's resolver cache no longer finds the old device here
            forget_device(old.fs_uuid, old.dev_uuid)
        return Superblock.decode(dev.buf[:200], dev.size)


def kill(path: str) -> None:
    """Zero the superblock magic only (`mkfs.famfs -k -f`)."""
    if mount_of(path):
        raise FamfsError(f"{path}: mounted; unmount it first")
    with Device(path, writable=True) as dev:
        dev.write(0, bytes(8))
        dev.flush(0, 8)
