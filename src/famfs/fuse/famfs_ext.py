"""The famfs FUSE protocol extension: capability negotiation, GET_FMAP and GET_DAXDEV.

A kernel that can cache file maps offers the famfs capability bit in FUSE_INIT. If the server
accepts it, the kernel sends GET_FMAP on the first open of an inode (no arguments; the node id is
in the request header) and GET_DAXDEV for each device index a map names that it does not know yet
(the index is carried in the header's node id field). Reads, writes and faults are then resolved
from the cached map with no round trip.

The numbers moved between patch revisions, so they are configuration (`Revision`), selected by
name (`--famfs-protocol {v10,early,push,off}`):

| revision | GET_FMAP | devices                          | maps              | capability bit |
|----------|----------|----------------------------------|-------------------|----------------|
| early    | 53       | GET_DAXDEV 54 (pull)             | simple, interleave | 42            |
| v10      | 54       | GET_DAXDEV 55 (pull)             | simple, interleave | 43 (7.46)     |
| push     | 54       | FUSE_DEV_IOC_DAXDEV_OPEN (push)  | simple only        | 43 (7.46)     |

`push` is the newest posted series: the server registers every device ahead of use with an
ioctl on the FUSE device ({fd, daxdev_index}), the kernel takes simple extents only (so an
interleaved file is served unrolled into uniform chunk-size extents, resolved by shift), and
GET_FMAP carries the size of the kernel's reply buffer (a map that does not fit is answered with
its header alone, whose fmap_size tells the kernel what to offer next). Devices the log adds
while mounted (famfs devadd) are pushed before any file on them is served.

Bits 32..63 of the init flags travel in `flags2`, which is valid only when FUSE_INIT_EXT
(1 << 30) is set in `flags`. The handlers are live only on a connection that negotiated the
bit: on any other connection the opcodes mean what the kernel's own table says (53 is
COPY_FILE_RANGE_64 from 7.45 on). The early numbering predates FUSE_REQUEST_TIMEOUT, which took
bit 42 in protocol 7.43: from a kernel speaking 7.43 or later, bit 42 is that flag, so the early
extension is not switched on (the bit, granted anyway, sets no timeout: request_timeout is 0).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from famfs.errors import FamfsError
from famfs.fuse.options import DEFAULT_PROTOCOL, PROTOCOL_CHOICES
from famfs.fuse.session import Request, Session
from famfs.fuse.wire import FUSE_DEV_IOC_DAXDEV_OPEN, InitIn, pack_daxdev_open
from famfs.mapping.wire import HEADER_SIZE, SIMPLE_FMAP_MAX, offered_size
from famfs.omf.layout import MAX_DEVICES


@dataclass(frozen=True)
class Revision:
    """One numbering of the famfs extension: opcodes and the INIT capability bit."""

    name: str
    get_fmap: int
    get_daxdev: int
    cap_bit: int
    """Bit number in the 64-bit init flags (flags | flags2 << 32)."""
    max_minor: int | None = None
    """Newest kernel protocol minor whose INIT flags can carry this bit with this meaning
    (None: any)."""
    push: bool = False
    """Devices are registered with FUSE_DEV_IOC_DAXDEV_OPEN, maps are simple extents only, and
    GET_FMAP carries the kernel's reply buffer size."""

    @property
    def capability(self) -> int:
        """The capability as a 64-bit flag value."""
        return 1 << self.cap_bit


REVISIONS: dict[str, Revision] = {
    "v10": Revision("v10", get_fmap=54, get_daxdev=55, cap_bit=43),
    "early": Revision("early", get_fmap=53, get_daxdev=54, cap_bit=42, max_minor=42),
    "push": Revision("push", get_fmap=54, get_daxdev=55, cap_bit=43, push=True),
}
DEFAULT_REVISION = DEFAULT_PROTOCOL
CHOICES = PROTOCOL_CHOICES
assert set(CHOICES) == {*REVISIONS, "off"}


def revision(name: str) -> Revision | None:
    """The revision called `name` (None for 'off'); ValueError names the accepted values."""
    if name == "off":
        return None
    try:
        return REVISIONS[name]
    except KeyError:
        raise ValueError(f"famfs protocol {name!r}: expected one of {', '.join(CHOICES)}") \
            from None


# struct fuse_get_fmap_in (early revision only; 8 bytes): 0 size u32, 4 padding u32.
# A kernel that sends it wants a reply of exactly `size` bytes (the map, then zeros), as the
# reference server pads for it. Later kernels send no arguments and take the map as it is.
_GET_FMAP_IN = struct.Struct("<II")
FMAP_REPLY_MAX = 32768
"""Largest GET_FMAP reply a kernel accepts (FAMFS_FMAP_MAX)."""


class MapSource(Protocol):
    """Where the handlers get their replies: the mount's operations."""

    def fmap_blob(self, nodeid: int) -> bytes: ...

    def simple_fmap_blob(self, nodeid: int) -> bytes: ...

    def daxdev_blob(self, index: int) -> bytes: ...

    def device_path(self, index: int) -> str: ...


Pusher = Callable[[int, int], None]
"""Registers a device with the kernel: (open descriptor of the device, device index)."""


def ioctl_pusher(session_fd: int) -> Pusher:
    """The kernel's registration call: FUSE_DEV_IOC_DAXDEV_OPEN on the FUSE device."""
    def push(fd: int, index: int) -> None:
        fcntl.ioctl(session_fd, FUSE_DEV_IOC_DAXDEV_OPEN, pack_daxdev_open(fd, index))
    return push


def _no_map(nodeid: int, exc: OSError) -> FamfsError:
    if exc.errno == errno.ENODATA:  # a directory: no map (the reference says ENOENT)
        return FamfsError(f"node {nodeid} has no map", errno.ENOENT)
    return exc if isinstance(exc, FamfsError) else FamfsError(str(exc), exc.errno or errno.EIO)


@dataclass
class FamfsExtension:
    """The famfs extension on one connection: which revision, whether the kernel accepted
    it, how many map requests it answered, and (push) which devices it registered."""

    rev: Revision
    source: MapSource
    pusher: Pusher | None = None
    negotiated: bool = False
    fmap_requests: int = 0
    daxdev_requests: int = 0
    pushed: set[int] = field(default_factory=set)
    push_errors: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_fmap(self, req: Request) -> bytes:
        """GET_FMAP: the map of the file whose node id is in the header."""
        with self._lock:
            self.fmap_requests += 1
        if self.rev.push:
            return self._get_simple_fmap(req)
        want = 0
        if self.rev.name == "early" and len(req.body) >= _GET_FMAP_IN.size:
            want = min(_GET_FMAP_IN.unpack_from(req.body)[0], FMAP_REPLY_MAX)
        try:
            blob = self.source.fmap_blob(req.nodeid)
        except OSError as exc:
            raise _no_map(req.nodeid, exc) from None
        if len(blob) > FMAP_REPLY_MAX or (want and len(blob) > want):
            raise FamfsError(f"node {req.nodeid}: map of {len(blob)} bytes", errno.E2BIG)
        if want > len(blob):
            return blob + bytes(want - len(blob))
        return blob

    def _get_simple_fmap(self, req: Request) -> bytes:
        """GET_FMAP of the push revision: the simple-extent map, or its header alone when it
        is larger than the buffer the request offers."""
        offered = offered_size(req.body)
        if offered is None:
            raise FamfsError("GET_FMAP: no buffer size in the request", errno.EINVAL)
        try:
            blob = self.source.simple_fmap_blob(req.nodeid)
        except OSError as exc:
            raise _no_map(req.nodeid, exc) from None
        if len(blob) > SIMPLE_FMAP_MAX:
            raise FamfsError(f"node {req.nodeid}: map of {len(blob)} bytes", errno.E2BIG)
        if len(blob) > offered:
            return blob[:HEADER_SIZE]
        return blob

    def get_daxdev(self, req: Request) -> bytes:
        """GET_DAXDEV: the device whose index is in the header's node id field."""
        with self._lock:
            self.daxdev_requests += 1
        index = req.nodeid
        if index >= MAX_DEVICES:
            raise FamfsError(f"device index {index} is not below {MAX_DEVICES}", errno.EINVAL)
        try:
            return self.source.daxdev_blob(index)
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                raise FamfsError(f"no device {index}", errno.EINVAL) from None
            raise FamfsError(str(exc), errno.EINVAL) from None

    def push_devices(self, indices: list[int]) -> None:
        """Register devices `indices` with the kernel (push revision), each once. A device
        that cannot be opened or registered is logged and left out: the kernel then refuses
        the maps that use it."""
        if not self.rev.push or not self.negotiated or self.pusher is None:
            return
        for index in indices:
            with self._lock:
                if index in self.pushed:
                    continue
            try:
                path = self.source.device_path(index)
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                try:
                    self.pusher(fd, index)
                finally:
                    os.close(fd)
            except OSError as exc:
                message = f"device {index}: {exc}"
                self.push_errors[index] = message
                print(f"famfs mount: cannot register {message}", file=sys.stderr, flush=True)
                continue
            with self._lock:
                self.pushed.add(index)

    def _granted(self, session: Session, init: InitIn, devices: Callable[[], list[int]]
                 ) -> None:
        if self.rev.max_minor is not None and init.minor > self.rev.max_minor:
            return
        self.negotiated = True
        session.register(self.rev.get_fmap, self.get_fmap)
        if self.rev.push:
            if self.pusher is None:
                self.pusher = ioctl_pusher(session.fd)
            session.after_init(lambda: self.push_devices(devices()))
        else:
            session.register(self.rev.get_daxdev, self.get_daxdev)


def install(session: Session, source: MapSource, protocol: str = DEFAULT_REVISION, *,
            devices: Callable[[], list[int]] | None = None, pusher: Pusher | None = None
            ) -> FamfsExtension | None:
    """Offer the famfs extension of revision `protocol` ('v10', 'early', 'push' or 'off') on
    `session`.

    The capability is asked for in INIT; only if the kernel offers it (and speaks a protocol
    minor in which the bit has this meaning) are the handlers routed, before the INIT reply
    goes out. With 'push', every device `devices()` names is registered right after the INIT
    reply (by `pusher`, default the FUSE_DEV_IOC_DAXDEV_OPEN ioctl on the session's
    descriptor). Returns the extension (None for 'off'); ValueError for an unknown revision.
    """
    rev = revision(protocol)
    if rev is None:
        return None
    ext = FamfsExtension(rev, source, pusher)
    names = devices or (lambda: [0])
    session.request_capability(rev.capability,
                               lambda init: ext._granted(session, init, names))
    return ext
