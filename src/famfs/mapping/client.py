"""The client side of the mapping protocol: what the kernel keeps per connection.

A Connection caches each inode's parsed map (fetched once, on first open; when two first opens
race, the first to publish wins and the other copy is dropped), keeps a 64-slot device table
with valid and failed flags, filled lazily on first use (pull) or ahead of time (push), makes
per-file errors sticky until the inode is looked up afresh, and counts every round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from famfs.device import device_size
from famfs.errors import FamfsError
from famfs.mapping.iomap import EHWPOISON, IoMap, MappingError
from famfs.mapping.mapped import MappedFile, map_file
from famfs.mapping.transport import Transport
from famfs.mapping.wire import DaxdevReply, decode_get_daxdev, decode_setup_reply
from famfs.omf.layout import MAX_DEVICES

PULL = "pull"
PUSH = "push"
SETUP = "setup"
NO_CACHE = "nocache"
MODES = (PULL, PUSH, SETUP, NO_CACHE)


@dataclass
class RoundTrips:
    """Requests sent to the server, by kind."""

    fmap: int = 0
    daxdev: int = 0
    setup: int = 0

    @property
    def total(self) -> int:
        return self.fmap + self.daxdev + self.setup


@dataclass
class DeviceSlot:
    """One slot of the device table: device `index` is `name` (`size` bytes)."""

    index: int
    name: str
    size: int
    valid: bool = True
    failed: bool = False


@dataclass(eq=False)
class Inode:
    """A file as the client knows it: its cached map and its sticky error."""

    relpath: str
    mapped: MappedFile | None = None
    error: MappingError | None = None
    opens: int = field(default=0)
    size: int | None = None
    """File size in bytes, from the map seen at the last open."""


class Connection:
    """A client connection to one famfs server through `transport`.

    `mode` says how devices and maps are fetched: PULL (map on first open, then one device
    request per device not yet known), PUSH (every device sent ahead of time at connect),
    SETUP (map and its devices in one combined request), NO_CACHE (no map cache: a map
    request for every resolution; a baseline for measurements).
    """

    def __init__(self, transport: Transport, mode: str = PULL) -> None:
        if mode not in MODES:
            raise FamfsError(f"connection mode {mode!r} is not one of {', '.join(MODES)}")
        self.transport = transport
        self.mode = mode
        self.round_trips = RoundTrips()
        self.devices: list[DeviceSlot | None] = [None] * MAX_DEVICES
        self.inodes: dict[str, Inode] = {}
        self._lock = threading.Lock()
        if mode == PUSH:
            self.push_devices()

    # --- device table -------------------------------------------------------------------

    def _install(self, reply: DaxdevReply, want: int | None) -> DeviceSlot:
        if want is not None and reply.index != want:
            raise MappingError(f"asked for device {want}, the server answered for "
                               f"device {reply.index}")
        have = self.devices[reply.index]
        if have is not None and have.valid and have.name == reply.name:
            return have
        size = device_size(reply.name)
        slot = DeviceSlot(reply.index, reply.name, size)
        with self._lock:
            have = self.devices[reply.index]
            if have is None or not have.valid:
                self.devices[reply.index] = slot
                return slot
            return have

    def push_devices(self) -> list[int]:
        """Fill the table with every device the server names (push); return their indices."""
        indices = self.transport.device_indices()
        for index in indices:
            self.round_trips.daxdev += 1
            self._install(decode_get_daxdev(self.transport.get_daxdev(index)), index)
        return indices

    def device(self, index: int) -> DeviceSlot:
        """The slot of device `index`, fetched now (pull) if it is not in the table."""
        if not 0 <= index < MAX_DEVICES:
            raise MappingError(f"device index {index} is outside the {MAX_DEVICES}-slot table")
        slot = self.devices[index]
        if slot is not None and slot.valid:
            return slot
        if self.mode == PUSH:
            raise MappingError(f"device {index} was not pushed to this connection")
        self.round_trips.daxdev += 1
        return self._install(decode_get_daxdev(self.transport.get_daxdev(index)), index)

    def mark_failed(self, index: int) -> None:
        """Record a memory error on device `index`: files touching it fail with EHWPOISON."""
        slot = self.devices[index]
        if slot is None:
            raise MappingError(f"device {index} is not in the table")
        slot.failed = True

    # --- inodes -------------------------------------------------------------------------

    def lookup(self, relpath: str) -> Inode:
        """The inode of `relpath`, created on first lookup (no round trip)."""
        inode = self.inodes.get(relpath)
        if inode is None:
            with self._lock:
                inode = self.inodes.setdefault(relpath, Inode(relpath))
        return inode

    def forget(self, relpath: str) -> None:
        """Drop the inode (and with it its cached map and sticky error)."""
        with self._lock:
            self.inodes.pop(relpath, None)

    def _fetch(self, relpath: str) -> MappedFile:
        if self.mode == SETUP:
            self.round_trips.setup += 1
            blob, replies = decode_setup_reply(self.transport.get_setup(relpath))
            mapped = map_file(blob)
            for reply in replies:
                if reply.index in mapped.devices:
                    self._install(reply, reply.index)
            return mapped
        self.round_trips.fmap += 1
        return map_file(self.transport.get_fmap(relpath))

    def open(self, relpath: str, size: int | None = None) -> Inode:
        """Open `relpath`: fetch and parse its map on the first open of the inode (a rejected
        map is never cached), and its devices not yet in the table. `size`, if given, is the
        size the caller believes the file has; a map of another size fails the inode."""
        inode = self.lookup(relpath)
        if inode.error is not None:
            raise inode.error
        mapped = inode.mapped
        if mapped is None:
            fetched = self._fetch(relpath)
            with self._lock:
                if inode.mapped is None and self.mode != NO_CACHE:
                    inode.mapped = fetched
                mapped = inode.mapped or fetched
        if size is not None and size != mapped.size:
            inode.error = MappingError(f"{relpath}: the map describes {mapped.size} bytes, the "
                                       f"file has {size}")
            raise inode.error
        for index in sorted(mapped.devices):
            self.device(index)
        inode.size = mapped.size
        inode.opens += 1
        return inode

    def map_of(self, inode: Inode) -> MappedFile:
        """The map of an open inode (NO_CACHE: fetched again, one round trip)."""
        if inode.error is not None:
            raise inode.error
        if inode.mapped is not None:
            return inode.mapped
        return self._fetch(inode.relpath)

    def resolve(self, inode: Inode, pos: int, length: int = 0, flags: int = 0) -> IoMap:
        """The mapping of byte `pos` of an open inode, checked against the device table: a
        device missing from the table is EIO, a failed device EHWPOISON (sticky)."""
        if inode.error is not None:
            raise inode.error
        mapped = inode.mapped if inode.mapped is not None else self.map_of(inode)
        return self._checked(inode, mapped.begin(pos, length, flags))

    def spans(self, inode: Inode, pos: int, length: int, flags: int = 0) -> Iterator[IoMap]:
        """The runs of file bytes [pos, pos + length) of an open inode (MappedFile.spans),
        each checked against the device table as `resolve` checks it."""
        if inode.error is not None:
            raise inode.error
        mapped = inode.mapped if inode.mapped is not None else self.map_of(inode)
        for m in mapped.spans(pos, length, flags):
            yield self._checked(inode, m)

    def _checked(self, inode: Inode, result: IoMap) -> IoMap:
        slot = self.devices[result.dev]
        if slot is None or not slot.valid:
            raise MappingError(f"{inode.relpath}: device {result.dev} is not in the table")
        if slot.failed:
            inode.error = MappingError(f"{inode.relpath}: device {result.dev} ({slot.name}) "
                                       f"has failed", EHWPOISON)
            raise inode.error
        if result.addr + result.length > slot.size:
            inode.error = MappingError(f"{inode.relpath}: extent at {result.addr:#x} runs past "
                                       f"the end of device {result.dev} ({slot.size:#x} bytes)")
            raise inode.error
        return result
