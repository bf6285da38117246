"""The famfs FUSE protocol extension: capability negotiation, GET_FMAP and GET_DAXDEV.

A kernel that can cache file maps offers the famfs capability bit in FUSE_INIT. If the server
accepts it, the kernel sends GET_FMAP on the first open of an inode (no arguments; the node id is
in the request header) and GET_DAXDEV for each device index a map names that it does not know yet
(the index is carried in the header's node id field). Reads, writes and faults are then resolved
from the cached map with no round trip.

The numbers moved between patch revisions, so they are configuration (`Revision`), selected by
name (`--famfs-protocol {v10,early,off}`):

| revision | GET_FMAP | GET_DAXDEV | capability bit (1 << n of the 64-bit init flags) |
|----------|----------|------------|---------------------------------------------------|
| early    | 53       | 54         | 42 (bit 10 of flags2)                             |
| v10      | 54       | 55         | 43 (bit 11 of flags2; protocol 7.46)              |

Bits 32..63 of the init flags travel in `flags2`, which is valid only when FUSE_INIT_EXT
(1 << 30) is set in `flags`. The handlers are live only on a connection that negotiated the
bit: on any other connection the opcodes mean what the kernel's own table says (53 is
COPY_FILE_RANGE_64 from 7.45 on). The early numbering predates FUSE_REQUEST_TIMEOUT, which took
bit 42 in protocol 7.43: from a kernel speaking 7.43 or later, bit 42 is that flag, so the early
extension is not switched on (the bit, granted anyway, sets no timeout: request_timeout is 0).
"""

from __future__ import annotations

import errno
import struct
import threading
from dataclasses import dataclass, field
from typing import Protocol

from famfs.errors import FamfsError
from famfs.fuse.options import DEFAULT_PROTOCOL, PROTOCOL_CHOICES
from famfs.fuse.session import FuseError, Request, Session
from famfs.fuse.wire import InitIn
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

    @property
    def capability(self) -> int:
        """The capability as a 64-bit flag value."""
        return 1 << self.cap_bit


REVISIONS: dict[str, Revision] = {
    "v10": Revision("v10", get_fmap=54, get_daxdev=55, cap_bit=43),
    "early": Revision("early", get_fmap=53, get_daxdev=54, cap_bit=42, max_minor=42),
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

    def daxdev_blob(self, index: int) -> bytes: ...


@dataclass
class FamfsExtension:
    """The famfs extension on one connection: which revision, whether the kernel accepted
    it, and how many map requests it answered."""

    rev: Revision
    source: MapSource
    negotiated: bool = False
    fmap_requests: int = 0
    daxdev_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_fmap(self, req: Request) -> bytes:
        """GET_FMAP: the map of the file whose node id is in the header."""
        with self._lock:
            self.fmap_requests += 1
        want = 0
        if self.rev.name == "early" and len(req.body) >= _GET_FMAP_IN.size:
            want = min(_GET_FMAP_IN.unpack_from(req.body)[0], FMAP_REPLY_MAX)
        try:
            blob = self.source.fmap_blob(req.nodeid)
        except OSError as exc:
            if exc.errno == errno.ENODATA:  # a directory: no map (the reference says ENOENT)
                raise FuseError(errno.ENOENT, f"node {req.nodeid} has no map") from None
            raise
        if len(blob) > FMAP_REPLY_MAX or (want and len(blob) > want):
            raise FuseError(errno.E2BIG, f"node {req.nodeid}: map of {len(blob)} bytes")
        if want > len(blob):
            return blob + bytes(want - len(blob))
        return blob

    def get_daxdev(self, req: Request) -> bytes:
        """GET_DAXDEV: the device whose index is in the header's node id field."""
        with self._lock:
            self.daxdev_requests += 1
        index = req.nodeid
        if index >= MAX_DEVICES:
            raise FuseError(errno.EINVAL, f"device index {index} is not below {MAX_DEVICES}")
        try:
            return self.source.daxdev_blob(index)
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                raise FuseError(errno.EINVAL, f"no device {index}") from None
            raise
        except FamfsError as exc:
            raise FuseError(errno.EINVAL, str(exc)) from None

    def _granted(self, session: Session, init: InitIn) -> None:
        if self.rev.max_minor is not None and init.minor > self.rev.max_minor:
            return
        self.negotiated = True
        session.register(self.rev.get_fmap, self.get_fmap)
        session.register(self.rev.get_daxdev, self.get_daxdev)


def install(session: Session, source: MapSource, protocol: str = DEFAULT_REVISION
            ) -> FamfsExtension | None:
    """Offer the famfs extension of revision `protocol` ('v10', 'early' or 'off') on `session`.

    The capability is asked for in INIT; only if the kernel offers it (and speaks a protocol
    minor in which the bit has this meaning) are GET_FMAP and GET_DAXDEV routed to the handlers,
    before the INIT reply goes out. Returns the extension
    (None for 'off'); ValueError for an unknown revision name.
    """
    rev = revision(protocol)
    if rev is None:
        return None
    ext = FamfsExtension(rev, source)
    session.request_capability(rev.capability, lambda init: ext._granted(session, init))
    return ext
