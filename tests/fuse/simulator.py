"""A kernel-side FUSE simulator: it plays the kernel against a real request loop.

The simulator holds one end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)`; a real
`famfs.fuse.session` serves the other end with the real operations on a real image. Each send is
one request (fuse_in_header + arguments, built with `famfs.fuse.wire`), each receive one reply
(fuse_out_header + body), exactly as on /dev/fuse.

`KernelSimulator` speaks the protocol (INIT offering the famfs capability, LOOKUP, OPEN, READ,
GET_FMAP, GET_DAXDEV, raw malformed bytes) and counts requests by opcode. It also takes the
newest revision's device registration, FUSE_DEV_IOC_DAXDEV_OPEN ({fd, daxdev_index}), as the
kernel's ioctl handler would (`daxdev_open`, the server's pusher): a socket cannot carry the
ioctl, so the server calls it directly. `FamfsKernelClient` plays the famfs part of the kernel
on top of it: GET_FMAP on the first open of an inode, the reply parsed once with
`famfs.mapping.map_file` and cached per inode, GET_DAXDEV for each device index not yet in the
connection's 64-slot table (or, push revision, only devices registered ahead of time; the map
asked for with the size of the reply buffer and simple extents only), and reads resolved from
the cached map and the device table with no round trip.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import socket
import stat
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from famfs.errors import FamfsError
from famfs.fs.filesystem import Filesystem
from famfs.fuse import famfs_ext, wire
from famfs.fuse.famfs_ext import FamfsExtension, Revision
from famfs.fuse.handlers import standard_handlers
from famfs.fuse.ops import FamfsOperations, MountOptions
from famfs.fuse.session import Session
from famfs.mapping import MappedFile, MappingError, map_file
from famfs.mapping.server import MapServer
from famfs.mapping.wire import (
    HEADER_SIZE,
    decode_get_daxdev,
    getxattr_in,
    simple_fmap_size,
)
from famfs.omf.layout import MAX_DEVICES

REPLY_BUFFER = 2 * 1024 * 1024
"""Receive buffer: larger than any reply (1 MiB reads plus headers)."""


class ReplyTimeout(AssertionError):
    """The server did not answer in time (it hung or died)."""


@dataclass
class Reply:
    """One reply: `error` is a positive errno (0 on success), `body` what follows the header."""

    unique: int
    error: int
    body: bytes

    def ok(self) -> bytes:
        """The body; AssertionError naming the errno if the reply is an error."""
        if self.error:
            raise AssertionError(f"request {self.unique} failed: {os.strerror(self.error)} "
                                 f"({self.error})")
        return self.body


class KernelSimulator:
    """The kernel end of a FUSE connection carried by socket `sock`."""

    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self._unique = 0
        self._pending: dict[int, Reply] = {}
        self.sent: Counter[int] = Counter()
        """Requests sent, by opcode."""
        self.init_out: wire.InitOut | None = None
        self.pushed: dict[int, DeviceSlot] = {}
        """Devices registered with FUSE_DEV_IOC_DAXDEV_OPEN, by index."""
        self.push_calls = 0
        self._push_lock = threading.Lock()
        self.famfs_capability = 0
        """The famfs capability bit this kernel offers (set by famfs_init)."""
        self.init_done = threading.Event()
        """Set once the INIT reply is processed (the kernel does that inside the write)."""

    # --- framing ------------------------------------------------------------------------

    def next_unique(self) -> int:
        self._unique += 2  # the kernel uses even ids; odd ones mark interrupts
        return self._unique

    def send_raw(self, data: bytes) -> None:
        """Write `data` as one request (it may be malformed on purpose)."""
        self.sock.send(data)

    def receive(self, unique: int) -> Reply:
        """The reply to request `unique` (replies to others are kept for later)."""
        while unique not in self._pending:
            try:
                data = self.sock.recv(REPLY_BUFFER)
            except TimeoutError:
                raise ReplyTimeout(f"no reply to request {unique}") from None
            if not data:
                raise ReplyTimeout(f"connection closed before the reply to request {unique}")
            head = wire.OutHeader.unpack(data)
            assert head.len == len(data), \
                f"reply {head.unique}: header says {head.len} bytes, {len(data)} arrived"
            assert head.error <= 0, f"reply {head.unique}: positive error {head.error}"
            self._pending[head.unique] = Reply(head.unique, -head.error,
                                               data[wire.OutHeader.SIZE:])
        return self._pending.pop(unique)

    def request(self, opcode: int, nodeid: int = 0, payload: bytes = b"",
                unique: int | None = None) -> Reply:
        """Send one well-formed request and wait for its reply."""
        unique = self.next_unique() if unique is None else unique
        self.sent[opcode] += 1
        self.send_raw(wire.pack_request(opcode, unique, nodeid, payload))
        return self.receive(unique)

    def send_no_reply(self, opcode: int, nodeid: int, payload: bytes) -> None:
        """Send a request that gets no reply (FORGET, BATCH_FORGET, INTERRUPT)."""
        self.sent[opcode] += 1
        self.send_raw(wire.pack_request(opcode, self.next_unique(), nodeid, payload))

    def poll_reply(self, timeout: float = 0.2) -> bytes | None:
        """Whatever reply arrives within `timeout` seconds (None if nothing does)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(REPLY_BUFFER)
        except TimeoutError:
            return None
        finally:
            self.sock.settimeout(old)

    # --- operations ---------------------------------------------------------------------

    def init(self, offer: int = 0, minor: int = wire.KERNEL_MINOR_VERSION,
             max_readahead: int = 128 * 1024) -> wire.InitOut:
        """FUSE_INIT offering the 64-bit capability set `offer` (INIT_EXT added as needed)."""
        flags64 = offer | wire.InitFlag.INIT_EXT | wire.InitFlag.MAX_PAGES
        body = wire.InitIn(wire.KERNEL_VERSION, minor, max_readahead, flags64 & 0xFFFFFFFF,
                           flags64 >> 32).pack()
        self.init_out = wire.InitOut.unpack(self.request(wire.Opcode.INIT, 0, body).ok())
        self.init_done.set()
        return self.init_out

    def negotiated(self) -> int:
        """The 64-bit flag set the server accepted in its INIT reply."""
        assert self.init_out is not None, "INIT has not been sent"
        out = self.init_out
        if out.flags & wire.InitFlag.INIT_EXT:
            return out.flags | out.flags2 << 32
        return out.flags

    def lookup(self, parent: int, name: str) -> wire.EntryOut:
        reply = self.request(wire.Opcode.LOOKUP, parent, name.encode() + b"\0")
        return wire.EntryOut.unpack(reply.ok())

    def lookup_path(self, relpath: str) -> wire.EntryOut:
        """LOOKUP of each component of `relpath` from the root."""
        parent = wire.ROOT_ID
        entry = None
        for part in relpath.strip("/").split("/"):
            entry = self.lookup(parent, part)
            parent = entry.nodeid
        assert entry is not None
        return entry

    def getattr(self, nodeid: int) -> wire.AttrOut:
        reply = self.request(wire.Opcode.GETATTR, nodeid, wire.GetattrIn(0, 0, 0).pack())
        return wire.AttrOut.unpack(reply.ok())

    def open(self, nodeid: int, flags: int = os.O_RDONLY) -> wire.OpenOut:
        return wire.OpenOut.unpack(self.request(wire.Opcode.OPEN, nodeid,
                                                wire.OpenIn(flags).pack()).ok())

    def read(self, nodeid: int, fh: int, offset: int, size: int) -> bytes:
        body = wire.ReadIn(fh, offset, size, 0, 0, os.O_RDONLY).pack()
        return self.request(wire.Opcode.READ, nodeid, body).ok()

    def release(self, nodeid: int, fh: int) -> None:
        self.request(wire.Opcode.RELEASE, nodeid, wire.ReleaseIn(fh, 0, 0, 0).pack()).ok()

    def forget(self, nodeid: int, nlookup: int = 1) -> None:
        self.send_no_reply(wire.Opcode.FORGET, nodeid, wire.ForgetIn(nlookup).pack())

    def getxattr(self, nodeid: int, name: str, size: int = 65536) -> Reply:
        return self.request(wire.Opcode.GETXATTR, nodeid,
                            wire.GetxattrIn(size).pack() + name.encode() + b"\0")

    def destroy(self) -> Reply:
        return self.request(wire.Opcode.DESTROY, wire.ROOT_ID)

    def daxdev_open(self, fd: int, index: int) -> None:
        """FUSE_DEV_IOC_DAXDEV_OPEN as the kernel handles it: refused unless the famfs
        capability was negotiated (EOPNOTSUPP) and for an index outside the 64-slot table
        (EINVAL); the device is taken by reference (the caller may close `fd`) and entered at
        `index`; registering an index again is a no-op. The argument travels packed, as the
        ioctl's does."""
        arg = wire.pack_daxdev_open(fd, index)
        fd, flags, index = wire.BACKING_MAP.unpack(arg)
        self.init_done.wait(self.sock.gettimeout())
        with self._push_lock:
            self.push_calls += 1
            if not self.famfs_capability or not self.negotiated() & self.famfs_capability:
                raise OSError(errno.EOPNOTSUPP, "famfs is not negotiated on this connection")
            if index >= MAX_DEVICES or flags:
                raise OSError(errno.EINVAL, f"device index {index}, flags {flags:#x}")
            if index in self.pushed:
                return
            own = os.dup(fd)
            st = os.fstat(own)
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            if not size:
                os.close(own)
                raise OSError(errno.EINVAL, "not a device the simulator can map")
            self.pushed[index] = DeviceSlot(f"pushed fd {fd}", own,
                                            mmap.mmap(own, size, mmap.MAP_SHARED))

    def close_pushed(self) -> None:
        for slot in self.pushed.values():
            slot.map.close()
            os.close(slot.fd)
        self.pushed.clear()


@dataclass
class DeviceSlot:
    """One slot of the connection's device table."""

    name: str
    fd: int
    map: mmap.mmap
    error: bool = False


@dataclass
class CachedInode:
    """What the kernel keeps on an inode of a famfs file: its parsed map."""

    nodeid: int
    mapped: MappedFile
    blob: bytes


@dataclass
class RoundTrips:
    """Map requests sent to the server: GET_FMAP and GET_DAXDEV."""

    get_fmap: int = 0
    get_daxdev: int = 0
    by_device: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.get_fmap + self.get_daxdev


class FamfsKernelClient:
    """The famfs part of the kernel: per-inode map cache, lazy device table, no-round-trip reads.

    It speaks revision `rev` over `sim`; `open()` and `read()` behave as the kernel's famfs
    paths do once the capability is negotiated.
    """

    FMAP_BUFFER_INIT = 4096
    """The reply buffer the push revision offers first (the kernel's FMAP_BUFSIZE_INIT)."""

    def __init__(self, sim: KernelSimulator, rev: Revision) -> None:
        self.sim = sim
        self.rev = rev
        self.inodes: dict[int, CachedInode] = {}
        self.devices: dict[int, DeviceSlot] = sim.pushed if rev.push else {}
        self.trips = RoundTrips()
        self.fmap_attempts: list[int] = []
        """Buffer sizes offered by push-revision GET_FMAPs, in order."""

    def close(self) -> None:
        if self.rev.push:
            self.sim.close_pushed()
            return
        for slot in self.devices.values():
            slot.map.close()
            os.close(slot.fd)
        self.devices.clear()

    def get_fmap(self, nodeid: int) -> Reply:
        """GET_FMAP: one round trip (no arguments; the node id is in the header), or, push
        revision, one offering a reply buffer and a second one of exactly the size the first
        reply's header announced when the map did not fit (as the kernel retries once)."""
        self.trips.get_fmap += 1
        if not self.rev.push:
            return self.sim.request(self.rev.get_fmap, nodeid)
        size = self.FMAP_BUFFER_INIT
        for attempt in range(2):
            self.fmap_attempts.append(size)
            reply = self.sim.request(self.rev.get_fmap, nodeid, getxattr_in(size))
            if reply.error:
                return reply
            need = simple_fmap_size(reply.body)
            if need <= size:
                return reply
            assert len(reply.body) == HEADER_SIZE, "a map that does not fit is its header only"
            if attempt:
                raise MappingError(f"node {nodeid}: the map grew across GET_FMAP retries")
            self.trips.get_fmap += 1
            size = need
        raise AssertionError("unreachable")

    def get_daxdev(self, index: int) -> Reply:
        """One GET_DAXDEV round trip (the device index travels in the header's node id)."""
        self.trips.get_daxdev += 1
        self.trips.by_device[index] += 1
        return self.sim.request(self.rev.get_daxdev, index)

    def _add_device(self, index: int) -> None:
        reply = decode_get_daxdev(self.get_daxdev(index).ok())
        assert reply.index == index, f"GET_DAXDEV {index} answered for device {reply.index}"
        fd = os.open(reply.name, os.O_RDWR | os.O_CLOEXEC)
        size = os.fstat(fd).st_size
        self.devices[index] = DeviceSlot(reply.name, fd, mmap.mmap(fd, size, mmap.MAP_SHARED))

    def open(self, nodeid: int, size: int | None = None) -> int:
        """OPEN; on the first open of the inode, GET_FMAP and GET_DAXDEV for unknown devices.
        `size`, if given, is the inode's size from LOOKUP: a map of another size is refused
        (MappingError) and not cached. Returns the file handle."""
        fh = self.sim.open(nodeid).fh
        if nodeid not in self.inodes:
            blob = self.get_fmap(nodeid).ok()
            mapped = map_file(blob, "famfs_unrolled" if self.rev.push else None)
            if size is not None and mapped.size != size:
                raise MappingError(f"node {nodeid}: map of {mapped.size} bytes, inode of {size}")
            for index in sorted(mapped.devices):
                assert index < MAX_DEVICES
                if index in self.devices:
                    continue
                if self.rev.push:
                    raise MappingError(f"node {nodeid}: device {index} was never registered",
                                       errno.ENODEV)
                self._add_device(index)
            self.inodes[nodeid] = CachedInode(nodeid, mapped, blob)
        return fh

    def drop(self, nodeid: int) -> None:
        """The inode is evicted: its map goes with it (the device table stays)."""
        self.inodes.pop(nodeid, None)

    def read(self, nodeid: int, offset: int, length: int) -> bytes:
        """File bytes resolved from the cached map alone (clipped to the file size)."""
        mapped = self.inodes[nodeid].mapped
        out = bytearray()
        for m in mapped.spans(offset, length):
            slot = self.devices[m.dev]
            out += slot.map[m.addr:m.addr + m.length]
        return bytes(out)


class WireTransport:
    """A `famfs.mapping.transport.Transport` whose requests are GET_FMAP and GET_DAXDEV on the
    FUSE wire: the mapping layer's own client (`famfs.mapping.client.Connection`) then runs
    against the real server exactly as the kernel would. Paths are resolved to node ids with
    LOOKUP once (not a map round trip)."""

    def __init__(self, sim: KernelSimulator, rev: Revision) -> None:
        self.sim = sim
        self.rev = rev
        self.nodeids: dict[str, int] = {}

    def _nodeid(self, relpath: str) -> int:
        nodeid = self.nodeids.get(relpath)
        if nodeid is None:
            nodeid = self.nodeids[relpath] = self.sim.lookup_path(relpath).nodeid
        return nodeid

    def get_fmap(self, relpath: str) -> bytes:
        reply = self.sim.request(self.rev.get_fmap, self._nodeid(relpath))
        if reply.error:
            raise MappingError(f"{relpath}: GET_FMAP failed: {os.strerror(reply.error)}",
                               reply.error)
        return reply.body

    def get_daxdev(self, index: int) -> bytes:
        reply = self.sim.request(self.rev.get_daxdev, index)
        if reply.error:
            raise MappingError(f"GET_DAXDEV {index} failed: {os.strerror(reply.error)}",
                               reply.error)
        return reply.body

    def get_setup(self, relpath: str) -> bytes:
        raise MappingError("the FUSE wire has no combined setup request")

    def device_indices(self) -> list[int]:
        raise MappingError("the FUSE wire has no device listing (devices are pulled)")


INIT_OFFER_LINUX_745 = (wire.InitFlag.ASYNC_READ | wire.InitFlag.POSIX_LOCKS
                        | wire.InitFlag.ATOMIC_O_TRUNC | wire.InitFlag.EXPORT_SUPPORT
                        | wire.InitFlag.BIG_WRITES | wire.InitFlag.DONT_MASK
                        | wire.InitFlag.FLOCK_LOCKS | wire.InitFlag.AUTO_INVAL_DATA
                        | wire.InitFlag.DO_READDIRPLUS | wire.InitFlag.READDIRPLUS_AUTO
                        | wire.InitFlag.ASYNC_DIO | wire.InitFlag.PARALLEL_DIROPS
                        | wire.InitFlag.MAX_PAGES | wire.InitFlag.INIT_EXT
                        | wire.InitFlag.REQUEST_TIMEOUT)
"""What a 7.45 kernel without famfs typically offers (a representative subset)."""
FAMFS_KERNEL_MINOR = 46
"""The protocol minor of kernels carrying the posted famfs series (7.46)."""


def famfs_init(sim: KernelSimulator, rev: Revision) -> wire.InitOut:
    """INIT as a famfs-capable kernel of revision `rev` sends it: its protocol minor, the
    usual flags and the famfs capability bit."""
    minor = rev.max_minor if rev.max_minor is not None else FAMFS_KERNEL_MINOR
    sim.famfs_capability = rev.capability
    return sim.init(INIT_OFFER_LINUX_745 | rev.capability, minor=minor)


SOCKET_BUFFER = 4 * 1024 * 1024
"""Socket buffers big enough for one 1 MiB READ reply as a single datagram."""


@dataclass
class Served:
    """A running server and the kernel playing against it."""

    sim: KernelSimulator
    session: Session
    ops: FamfsOperations
    fs: Filesystem
    ext: FamfsExtension | None

    def init(self, rev: Revision) -> wire.InitOut:
        """famfs_init, then wait until the server has done what it does right after INIT
        (push: register every device), as a mount does before it returns."""
        out = famfs_init(self.sim, rev)
        assert self.session.wait_initialized(10), "the server did not finish INIT"
        return out


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """(kernel end, server end) of a SOCK_SEQPACKET pair: one message per request / reply."""
    kernel, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (kernel, server):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    return kernel, server


@contextlib.contextmanager
def serve(image: str, protocol: str = "v10", *, workers: int = 2,
          device_paths: dict[int, str] | None = None,
          options: MountOptions | None = None) -> Iterator[Served]:
    """Run a real session with the real operations on `image`, famfs extension `protocol`,
    over a socket pair; yield the kernel's side. Everything is torn down afterwards, and the
    session must have ended (it notices the closed socket)."""
    fs = Filesystem(image, writable=True, device_paths=device_paths)
    ops = FamfsOperations(fs, options or MountOptions(follow=False),
                          MapServer(fs, device_paths))
    kernel, server = socket_pair()
    sim = KernelSimulator(kernel)
    session = Session(server.fileno(), standard_handlers(ops), workers=workers,
                      name="simulated-fuse")
    ext = famfs_ext.install(session, ops, protocol, devices=ops.maps.device_indices,
                            pusher=sim.daxdev_open)
    if ext is not None:
        ops.device_listeners.append(ext.push_devices)
    session.start()
    try:
        yield Served(sim, session, ops, fs, ext)
    finally:
        kernel.close()
        session.join()
        server.close()
        ops.close()
        sim.close_pushed()
        with contextlib.suppress(FamfsError):
            fs.close()
