"""The devices of one famfs: the table the log builds, and the devices themselves.

Device 0 is the primary: the device the filesystem is opened by, holding the superblock and the
log. Every other device comes from an ADD_DAXDEV log entry, which gives its index (dense, in log
order), its size and its UUID, never a path. On this host a secondary is found by UUID
(famfs.resolver), or at a path the caller names, and is opened (memory-mapped) only when first
needed. Either way it is used only once its own superblock checks out: a secondary of this
filesystem, with the UUID the log gives it, tied to this primary, at least as large as the log
says.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from famfs.device import Device
from famfs.errors import CorruptError, DeviceError, MissingDeviceError
from famfs.omf.superblock import SECONDARY_SIZE, SecondarySuperblock, Superblock
from famfs.resolver import Resolver


@dataclass
class Member:
    """Device `index` of the filesystem: `size` bytes that files may use, known by `uuid`.
    `path` and `device` are filled in once it is found and opened on this host."""

    index: int
    uuid: uuid.UUID
    size: int
    path: str | None = None
    device: Device | None = None


class DeviceTable:
    """Index to device, for the filesystem whose primary is `primary` (superblock `sb`).

    `paths` names where some devices are on this host (index to path); the others are found by
    UUID. Secondaries are opened with the primary's access mode.
    """

    def __init__(self, primary: Device, sb: Superblock, usable: int,
                 paths: Mapping[int, str] | None = None) -> None:
        self.primary = primary
        self.sb = sb
        self.members: dict[int, Member] = {
            0: Member(0, sb.dev_uuid, usable, os.path.abspath(primary.path), primary)}
        self._paths = {i: os.path.abspath(p) for i, p in (paths or {}).items() if i}
        self._lock = threading.Lock()
        self.resolver = Resolver(sb.fs_uuid)

    def __contains__(self, index: object) -> bool:
        return index in self.members

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(sorted(self.members.values(), key=lambda m: m.index))

    def add(self, index: int, dev_uuid: uuid.UUID, size: int) -> None:
        """Record device `index` (from its ADD_DAXDEV entry); nothing is opened."""
        self.members[index] = Member(index, dev_uuid, size)

    def member(self, index: int) -> Member:
        member = self.members.get(index)
        if member is None:
            raise DeviceError(f"device index {index} is not a device of the famfs on "
                              f"{self.primary.path}")
        return member

    def path(self, index: int) -> str:
        """The local path of device `index`: found, checked, and kept for the next call.
        MissingDeviceError names its UUID and index when this host has no such device."""
        member = self.member(index)
        if member.path is not None:
            return member.path
        given = self._paths.get(index)
        if given is not None:
            path = given
        else:
            path = self.resolver.resolve(member.uuid, index)
        self._check(member, path)
        member.path = path
        return path

    def device(self, index: int) -> Device:
        """Device `index`, opened (memory-mapped) on first use."""
        member = self.member(index)
        if member.device is not None:
            return member.device
        path = self.path(index)
        with self._lock:
            if member.device is None:
                dev = Device(path, self.primary.writable)
                try:
                    self._check_open(member, dev)
                except BaseException:
                    dev.close()
                    raise
                member.device = dev
            return member.device

    def open_all(self) -> None:
        """Open every device (a missing one raises MissingDeviceError)."""
        for member in list(self):
            self.device(member.index)

    def paths(self) -> dict[int, str]:
        """Index to local path of every device (each found and checked)."""
        return {m.index: self.path(m.index) for m in list(self)}

    def known_paths(self) -> dict[int, str]:
        """Index to local path of the devices found so far (no lookups)."""
        return {m.index: m.path for m in list(self) if m.path is not None}

    def _check(self, member: Member, path: str) -> None:
        """CorruptError unless `path` holds the secondary superblock of `member`."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise MissingDeviceError(f"device {member.index} (UUID {member.uuid}) of famfs "
                                     f"{self.sb.fs_uuid}: {path}: {exc.strerror}",
                                     member.index, member.uuid) from None
        try:
            head = os.pread(fd, SECONDARY_SIZE, 0)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        self._check_superblock(member, path, head, size or None)

    def _check_open(self, member: Member, dev: Device) -> None:
        self._check_superblock(member, dev.path, dev.buf[:SECONDARY_SIZE], dev.size)
        if dev.size < member.size:
            raise CorruptError("device", "size",
                               f"{dev.path}: device {member.index} is {dev.size} bytes, but the "
                               f"log gives it {member.size}")

    def _check_superblock(self, member: Member, path: str, head: bytes | memoryview,
                          size: int | None) -> None:
        try:
            sb = SecondarySuperblock.decode(head, size)
        except CorruptError as exc:
            raise exc.with_message(f"{path}: device {member.index}: {exc}") from None
        problems = []
        if sb.fs_uuid != self.sb.fs_uuid:
            problems.append(f"it belongs to famfs {sb.fs_uuid}, not {self.sb.fs_uuid}")
        if sb.dev_uuid != member.uuid:
            problems.append(f"its device UUID is {sb.dev_uuid}, the log says {member.uuid}")
        if sb.primary_uuid != self.sb.dev_uuid:
            problems.append(f"its primary is {sb.primary_uuid}, not {self.sb.dev_uuid}")
        if problems:
            raise CorruptError("secondary superblock", "uuid",
                               f"{path} is not device {member.index} of this famfs: "
                               + "; ".join(problems))

    def close(self) -> None:
        """Close every secondary that was opened (the primary belongs to the caller)."""
        for member in self.members.values():
            if member.index and member.device is not None:
                with contextlib.suppress(DeviceError):
                    member.device.close()
                member.device = None
