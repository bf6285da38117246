"""The FUSE request loop: read requests from a file descriptor, dispatch by opcode, reply.

A `Session` runs over any file descriptor that carries FUSE wire bytes, one request per read and
one reply per write: a /dev/fuse descriptor of a live mount, or one end of a
`socket.socketpair(AF_UNIX, SOCK_SEQPACKET)` whose other end plays the kernel. On /dev/fuse one
worker thread blocks in read(2) and the others, each on a descriptor cloned onto the
connection, wake only when requests wait (see `start`); on a socket every worker blocks in
read(2). Each request is handled entirely on the thread that read it, and answered on the
descriptor it came from. Workers leave when the connection ends: unmount (ENODEV) for
/dev/fuse, the peer closing (end of file) for a socket; `stop()` also shuts a socket down for
reading to wake them.

Extension points (stable):
- `Session.handlers` / `Session.register(opcode, handler)`: the dispatch table. A handler gets a
  `Request` and returns the reply payload: bytes, a memoryview, a list of buffers (sent with
  one writev, no copy), or None for an empty reply. To reply with an error it raises an
  OSError (famfs.errors are OSErrors) or any exception with a positive int `errno` attribute;
  a `wire.WireError` (bad arguments) becomes EINVAL, anything else EIO. Opcodes in
  `wire.NO_REPLY_OPCODES` never get a reply.
- The short path: a handler made with `short_path(fn)` is served, for every request without
  extension headers once INIT is done, by `fn(header, args)` with the header's fields as a
  tuple (`Header`) and a view of the arguments; no `Request` is built and no INTERRUPT is
  tracked (so such handlers must not block). Replies and errors as above.
- `Session.request_capability(flag, on_granted)`: ask for a 64-bit INIT flag (bits >= 32
  travel in flags2) if the kernel offers it; `on_granted(init_in)` runs before the INIT reply
  goes out when it was granted. `Session.granted` holds the negotiated flags afterwards.
- `Session.after_init(fn)`: run `fn()` once the INIT reply has been sent (the kernel has taken
  it: device ioctls that need a live connection work from then on).

INIT, INTERRUPT and DESTROY are handled here. Malformed requests (shorter than their header,
a length field that disagrees with the bytes read, arguments too short) get EINVAL, unknown
opcodes ENOSYS, anything before INIT EIO; the loop stays up. The loop ends when the
connection does (ENODEV: unmounted; end of file on a socket), on DESTROY, or on `stop()`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import stat
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from famfs.fuse import wire
from famfs.fuse.cpu_latency import CpuLatencyRequest
from famfs.fuse.options import DEFAULT_BUSY_POLL_US, DEFAULT_WORKERS
from famfs.fuse.wire import InHeader, InitFlag, InitIn, InitOut, Opcode, OutHeader

MAX_WRITE = 1 << 20
"""Largest WRITE (and READ) the kernel is told to send: 1 MiB (256 pages via max_pages)."""
PAGE_SIZE = 4096
IOV_MAX = 1024
POLL_INTERVAL_MS = 250
FUSE_DEVICE = "/dev/fuse"
FUSE_DEV_IOC_CLONE = 0x8004E500
"""_IOR(229, 0, uint32_t): attach a new /dev/fuse descriptor to an existing connection."""
STUCK_S = 0.02
"""An idle helper looks every this many seconds whether the reading thread is stuck in a slow
request while others wait; if so it serves them."""
_IN_HEADER = InHeader.FORMAT
_IN_SIZE = InHeader.SIZE
_OUT_HEADER = OutHeader.FORMAT
_OUT_SIZE = OutHeader.SIZE

DEFAULT_WANT = (InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES
                | InitFlag.PARALLEL_DIROPS | InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO
                | InitFlag.ASYNC_DIO | InitFlag.DIRECT_IO_ALLOW_MMAP)
"""INIT flags asked for when the kernel offers them."""

Buffer = bytes | bytearray | memoryview
Reply = Buffer | Sequence[Buffer] | None
Header = tuple[int, ...]
"""The fields of a fuse_in_header, in wire order: len, opcode, unique, nodeid, uid, gid, pid,
total_extlen, padding."""
BATCHED_OPCODES = frozenset({Opcode.READ, Opcode.WRITE})
"""Requests the kernel sends several at once (asynchronous direct I/O): after reading one, the
reader looks whether a helper should take the next."""


@dataclass
class Request:
    """One request. `body` (the op's arguments) is a view of the reading thread's buffer: it is
    valid only until the handler returns."""

    header: InHeader
    body: memoryview
    session: Session

    @property
    def opcode(self) -> int:
        return self.header.opcode

    @property
    def unique(self) -> int:
        return self.header.unique

    @property
    def nodeid(self) -> int:
        return self.header.nodeid

    @property
    def interrupted(self) -> bool:
        """Whether the kernel sent INTERRUPT for this request."""
        return self.header.unique in self.session.interrupted

    @property
    def fields(self) -> Header:
        """The header's fields as the short path passes them."""
        h = self.header
        return (h.len, h.opcode, h.unique, h.nodeid, h.uid, h.gid, h.pid, h.total_extlen,
                h.padding)


Handler = Callable[[Request], Reply]
ShortHandler = Callable[[Header, memoryview], Reply]


def short_path(fn: ShortHandler) -> Handler:
    """A handler served by `fn(header, args)` on both paths: directly on the short path, and
    through a `Request` where the short path does not apply (extension headers)."""
    def handler(req: Request) -> Reply:
        return fn(req.fields, req.body)

    handler.short = fn  # type: ignore[attr-defined]
    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "handler")
    handler.__doc__ = fn.__doc__
    return handler


def error_number(exc: BaseException) -> int:
    """The positive errno a handler's exception replies with."""
    if isinstance(exc, wire.WireError):
        return errno.EINVAL
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return code
    return errno.EIO


class Session:
    """The request loop over `fd` (see the module docstring)."""

    def __init__(self, fd: int, handlers: dict[int, Handler] | None = None, *,
                 workers: int = DEFAULT_WORKERS, max_write: int = MAX_WRITE,
                 max_readahead: int = MAX_WRITE, want: int = DEFAULT_WANT,
                 busy_poll: float = DEFAULT_BUSY_POLL_US * 1e-6,
                 cpu_latency: CpuLatencyRequest | None = None,
                 on_destroy: Callable[[], None] | None = None, name: str = "fuse") -> None:
        self.fd = fd
        self.handlers: dict[int, Handler] = {}
        self.short_handlers: dict[int, ShortHandler] = {}
        """Opcodes served by the short path (see `short_path`)."""
        for opcode, handler in (handlers or {}).items():
            self.register(opcode, handler)
        self.workers = max(1, workers)
        self.max_write = max_write
        self.max_readahead = max_readahead
        self.want = want
        self.busy_poll = max(0.0, busy_poll)
        """Seconds the reading thread polls for the next request before it sleeps in read(2)
        (0: never; see `DEFAULT_BUSY_POLL_US`)."""
        self.cpu_latency = cpu_latency
        """Held by the reading thread from the arrival of a request until it next sleeps in
        read(2) with none waiting: after its busy poll found nothing, or at once without one
        (see famfs.fuse.cpu_latency)."""
        self.on_destroy = on_destroy
        self.name = name
        self.bufsize = max(wire.MIN_READ_BUFFER, max_write + 2 * PAGE_SIZE)
        self._capabilities: list[tuple[int, Callable[[InitIn], None] | None]] = []
        self._after_init: list[Callable[[], None]] = []
        self.initialized = threading.Event()
        self.init_in: InitIn | None = None
        self.granted = 0
        """The negotiated 64-bit INIT flags."""
        self.proto_minor = 0
        self.interrupted: set[int] = set()
        """Uniques of requests in flight that the kernel asked to interrupt."""
        self._inflight: set[int] = set()
        self._local = threading.local()
        """Per worker: `fd`, the descriptor its requests came from (replies go there), and
        `poller`, a poll object on the connection."""
        self._idle = threading.Condition()
        self._idle_helpers = 0
        self._wanted = 0
        """Helpers asked to wake up (by `_kick`) that have not yet done so."""
        self._watching = False
        """Whether an idle helper is watching for a stuck reader."""
        self._serving = 0
        """The unique of the request the reading thread is serving (0: it is reading)."""
        self.helper_fds: list[int] = []
        """Cloned descriptors of the helper workers (empty: every worker blocks in read(2) on
        `fd`, as on a socket)."""
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._init_lock = threading.Lock()
        self.stop_reason: str | None = None
        self.errors = 0
        """Requests answered with EIO because a handler failed unexpectedly."""
        self.reply_faults = 0
        """Replies the kernel could not copy from our buffers (EFAULT: memory under a mapping
        went away); the kernel answered those requests with EIO itself."""

    # --- configuration ------------------------------------------------------------------

    def register(self, opcode: int, handler: Handler) -> None:
        """Route `opcode` to `handler` (replacing any handler it had). A handler made by
        `short_path` also takes the short path; opcodes without a reply never do."""
        self.handlers[int(opcode)] = handler
        short = getattr(handler, "short", None)
        if short is not None and opcode not in wire.NO_REPLY_OPCODES:
            self.short_handlers[int(opcode)] = short
        else:
            self.short_handlers.pop(int(opcode), None)

    def request_capability(self, flag: int,
                           on_granted: Callable[[InitIn], None] | None = None) -> None:
        """Ask for INIT flag `flag` (64-bit value) when the kernel offers it."""
        self._capabilities.append((flag, on_granted))

    def after_init(self, fn: Callable[[], None]) -> None:
        """Run `fn()` right after the INIT reply is sent (from the thread that sent it)."""
        self._after_init.append(fn)

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (daemon threads: a process may exit with a worker still
        blocked on a connection that has not ended).

        On /dev/fuse, one worker (the reader) blocks in read(2); the others are helpers, each
        with its own cloned descriptor in non-blocking mode, asleep until the reader finds more
        requests pending than it can take (`_kick`). So a single client is served by one hot
        thread, as a single-threaded server would serve it (no hand-off between threads per
        request), and concurrent clients by as many threads as have work. Where descriptors
        cannot be cloned (a socket), every worker blocks in read(2) on `fd`."""
        os.set_blocking(self.fd, True)
        self.helper_fds = self._clone_descriptors(self.workers - 1)
        if self.helper_fds:
            targets = [(self._reader, ())] + [(self._helper, (fd,)) for fd in self.helper_fds]
        else:
            targets = [(self._worker, ()) for _ in range(self.workers)]
        for i, (target, args) in enumerate(targets):
            t = threading.Thread(target=target, args=args, name=f"{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _clone_descriptors(self, count: int) -> list[int]:
        """`count` new /dev/fuse descriptors on this connection, non-blocking; [] if `fd` is
        not /dev/fuse or the kernel cannot clone."""
        if count <= 0:
            return []
        try:
            if not stat.S_ISCHR(os.fstat(self.fd).st_mode):
                return []
        except OSError:
            return []
        out: list[int] = []
        try:
            for _ in range(count):
                cfd = os.open(FUSE_DEVICE, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
                out.append(cfd)
                fcntl.ioctl(cfd, FUSE_DEV_IOC_CLONE, struct.pack("I", self.fd))
        except OSError:
            for cfd in out:
                os.close(cfd)
            return []
        return out

    def wait_initialized(self, timeout: float | None = None) -> bool:
        """Wait until INIT was answered (or the loop ended); True if it was answered."""
        return self.initialized.wait(timeout) and self.init_in is not None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers to leave; False if some are still running after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def running(self) -> bool:
        """Whether any worker is still serving."""
        return any(t.is_alive() for t in self._threads)

    def run(self) -> None:
        """start() and join()."""
        self.start()
        self.join()

    def stop(self, reason: str = "stopped") -> None:
        """Ask the workers to finish. Workers blocked on a socket are woken (it is shut down
        for reading); on /dev/fuse they leave when the mount goes away."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stopping.set()
        self.initialized.set()
        with self._idle:
            self._idle.notify_all()
        try:
            if stat.S_ISSOCK(os.fstat(self.fd).st_mode):
                with socket.socket(fileno=os.dup(self.fd)) as sock:
                    sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def _thread_setup(self, fd: int) -> memoryview:
        """This worker's descriptor, poll object and request buffer."""
        self._local.fd = fd
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        self._local.poller = poller
        return memoryview(bytearray(self.bufsize))

    def _read_failed(self, exc: OSError) -> bool:
        """Handle a failed read of a request; True if the worker should go on reading."""
        if exc.errno == errno.ENOENT:  # the request was interrupted before it was read
            return True
        if exc.errno == errno.ENODEV:
            self.stop("unmounted")
        else:
            self.stop(f"read failed: {exc.strerror}")
        return False

    def _reader(self) -> None:
        """The worker that blocks in read(2) on `fd` (helper mode). While no helper is busy
        it first polls for the next request for up to `busy_poll` seconds (a helper at work
        needs the interpreter more than a poll loop does)."""
        view = self._thread_setup(self.fd)
        buf = view.obj
        fd = self.fd
        poll = self._local.poller.poll
        clock = time.perf_counter
        busy_poll = self.busy_poll
        helpers = len(self.helper_fds)
        handle, reply_short, shorts = self._handle, self._reply_short, self.short_handlers
        latency = self.cpu_latency
        stopping = self._stopping.is_set
        last_unique = 0
        while not stopping():
            if busy_poll and self._idle_helpers == helpers:
                deadline = clock() + busy_poll
                while not poll(0):
                    if clock() >= deadline:
                        if latency is not None:
                            latency.release()
                        break
            elif latency is not None and latency.held and not poll(0):
                latency.release()
            try:
                n = os.readv(fd, [buf])
            except InterruptedError:
                continue
            except OSError as exc:
                if self._read_failed(exc):
                    continue
                break
            if n == 0:
                self.stop("connection closed")
                break
            if latency is not None and not latency.held:
                latency.hold()
            if n < _IN_SIZE:
                handle(view[:n])
                continue
            fields = _IN_HEADER.unpack_from(buf)
            opcode, unique = fields[1], fields[2]
            # The kernel numbers requests in steps of 2 (bit 0 marks interrupts). A request
            # that follows the last one read here came alone (a client waiting for each
            # reply), so a helper is only asked for when there is a gap, or for READ and
            # WRITE, which the kernel also sends in batches (asynchronous direct I/O).
            if (unique != last_unique + 2 or opcode in BATCHED_OPCODES) \
                    and self._idle_helpers and poll(0):
                self._wake_helper()
            last_unique = self._serving = unique
            short = shorts.get(opcode)
            if short is not None and fields[0] == n and not fields[7] \
                    and self.init_in is not None:
                reply_short(short, fields, view[_IN_SIZE:n])
            else:
                handle(view[:n])
            self._serving = 0

    def _helper(self, fd: int) -> None:
        """A helper: asleep until kicked (or until the reader is stuck while requests wait),
        then serving from its own descriptor until no request is left."""
        view = self._thread_setup(fd)
        buf = view.obj
        try:
            while not self._stopping.is_set():
                with self._idle:
                    self._idle_helpers += 1
                    watcher = False
                    while not self._stopping.is_set() and not self._wanted:
                        if not self._watching:  # one idle helper keeps an eye on the reader
                            self._watching = watcher = True
                        if watcher:
                            serving = self._serving
                            if not self._idle.wait(STUCK_S) and self._reader_stuck(serving):
                                break
                        else:
                            self._idle.wait()
                    if self._wanted:
                        self._wanted -= 1
                    if watcher:
                        self._watching = False
                        self._idle.notify()  # another idle helper takes over the watch
                    self._idle_helpers -= 1
                while not self._stopping.is_set():
                    try:
                        n = os.readv(fd, [buf])
                    except BlockingIOError:
                        break
                    except InterruptedError:
                        continue
                    except OSError as exc:
                        if self._read_failed(exc):
                            continue
                        return
                    if n == 0:
                        self.stop("connection closed")
                        return
                    msg = view[:n]
                    self._kick()
                    self._handle(msg)
        finally:
            os.close(fd)

    def _pending(self) -> bool:
        """Whether a request is waiting to be read (poll with no timeout)."""
        try:
            return bool(self._local.poller.poll(0))
        except (OSError, AttributeError):
            return False

    def _kick(self) -> None:
        """Wake one idle helper if another request is already waiting."""
        if self._idle_helpers and self._pending():
            self._wake_helper()

    def _wake_helper(self) -> None:
        with self._idle:
            if self._idle_helpers > self._wanted:
                self._wanted += 1
                self._idle.notify()

    def _reader_stuck(self, serving: int) -> bool:
        """Whether the reading thread is still serving request `serving`, seen STUCK_S ago,
        while others wait."""
        return bool(serving) and self._serving == serving and self._pending()

    def _worker(self) -> None:
        """A worker blocking in read(2) on the shared `fd` (where descriptors cannot be
        cloned)."""
        view = self._thread_setup(self.fd)
        buf = view.obj
        poller = self._local.poller
        while not self._stopping.is_set():
            try:
                n = os.readv(self.fd, [buf])
            except BlockingIOError:
                try:
                    events = poller.poll(POLL_INTERVAL_MS)
                except InterruptedError:
                    continue
                if any(ev & (select.POLLERR | select.POLLNVAL) for _, ev in events):
                    self.stop("connection error")
                continue
            except InterruptedError:
                continue
            except OSError as exc:
                if self._read_failed(exc):
                    continue
                break
            if n == 0:
                self.stop("connection closed")
                break
            self._handle(view[:n])

    # --- one request ----------------------------------------------------------------------

    def _handle(self, msg: memoryview) -> None:
        if len(msg) < InHeader.SIZE:
            if len(msg) >= OutHeader.SIZE:
                unique = int.from_bytes(msg[8:16], "little")
                self.send_error(unique, errno.EINVAL)
            else:
                self._log(f"dropped a {len(msg)}-byte request: shorter than a header")
            return
        fields = _IN_HEADER.unpack_from(msg)
        short = self.short_handlers.get(fields[1])
        if short is not None and fields[0] == len(msg) and not fields[7] \
                and self.init_in is not None:
            self._reply_short(short, fields, msg[_IN_SIZE:])
            return
        hdr = InHeader(*fields)
        if hdr.opcode in wire.NO_REPLY_OPCODES:
            self._no_reply(hdr, msg)
            return
        ext = hdr.total_extlen * 8
        if hdr.len != len(msg) or hdr.len < InHeader.SIZE + ext:
            self.send_error(hdr.unique, errno.EINVAL)
            return
        body = msg[InHeader.SIZE:hdr.len - ext]
        if hdr.opcode == Opcode.INIT:
            self._init(hdr, body)
            return
        if self.init_in is None:
            self.send_error(hdr.unique, errno.EIO)
            return
        if hdr.opcode == Opcode.DESTROY:
            if self.on_destroy is not None:
                self.on_destroy()
            self.send(hdr.unique, None)
            self.stop("destroyed")
            return
        handler = self.handlers.get(hdr.opcode)
        if handler is None:
            self.send_error(hdr.unique, errno.ENOSYS)
            return
        self._inflight.add(hdr.unique)
        try:
            result = handler(Request(hdr, body, self))
        except Exception as exc:  # every failure becomes an error reply
            self._failed(hdr.opcode, hdr.unique, exc)
            return
        finally:
            self._inflight.discard(hdr.unique)
            self.interrupted.discard(hdr.unique)
        self.send(hdr.unique, result)

    def _reply_short(self, short: ShortHandler, fields: Header, args: memoryview) -> None:
        """Serve a request by the short path: no Request, no interrupt bookkeeping (these
        handlers never block)."""
        try:
            result = short(fields, args)
        except Exception as exc:  # every failure becomes an error reply
            self._failed(fields[1], fields[2], exc)
            return
        self.send(fields[2], result)

    def _failed(self, opcode: int, unique: int, exc: Exception) -> None:
        code = error_number(exc)
        if code == errno.EIO and not hasattr(exc, "errno"):
            self.errors += 1
            self._log(f"opcode {opcode} failed:\n{traceback.format_exc()}")
        self.send_error(unique, code)

    def _no_reply(self, hdr: InHeader, msg: memoryview) -> None:
        if hdr.len != len(msg):
            self._log(f"dropped opcode {hdr.opcode}: length field {hdr.len}, {len(msg)} bytes")
            return
        body = msg[InHeader.SIZE:hdr.len]
        if hdr.opcode == Opcode.INTERRUPT:
            try:
                target = wire.InterruptIn.unpack(body).unique
            except wire.WireError:
                return
            # Handlers finish quickly, so an interrupt only marks the request (see
            # Request.interrupted); one that already finished is forgotten.
            if target in self._inflight:
                self.interrupted.add(target)
            return
        handler = self.handlers.get(hdr.opcode)
        if handler is None or self.init_in is None:
            return
        try:
            handler(Request(hdr, body, self))
        except Exception:  # no reply is possible; the kernel does not wait for one
            self._log(f"opcode {hdr.opcode} failed:\n{traceback.format_exc()}")

    def _init(self, hdr: InHeader, body: memoryview) -> None:
        try:
            init = InitIn.unpack(body)
        except wire.WireError:
            self.send_error(hdr.unique, errno.EINVAL)
            return
        with self._init_lock:
            if init.major > wire.KERNEL_VERSION:
                # Tell the kernel our major version; it sends a new INIT.
                out = InitOut(wire.KERNEL_VERSION, wire.KERNEL_MINOR_VERSION, 0, 0, 0, 0, 0, 0,
                              0, 0, 0)
                self.send(hdr.unique, out.pack())
                return
            if init.major < wire.KERNEL_VERSION or init.minor < wire.MIN_KERNEL_MINOR_VERSION:
                self._log(f"kernel protocol {init.major}.{init.minor} is too old")
                self.send_error(hdr.unique, errno.EPROTO)
                self.stop("protocol too old")
                return
            offered = init.all_flags
            want = self.want
            for flag, _ in self._capabilities:
                want |= flag
            granted = offered & want
            if granted >> 32:
                granted |= InitFlag.INIT_EXT
            self.granted = granted
            self.proto_minor = min(init.minor, wire.KERNEL_MINOR_VERSION)
            for flag, on_granted in self._capabilities:
                if granted & flag and on_granted is not None:
                    on_granted(init)
            max_pages = self.max_write // PAGE_SIZE if granted & InitFlag.MAX_PAGES else 0
            out = InitOut(
                major=wire.KERNEL_VERSION, minor=self.proto_minor,
                max_readahead=min(init.max_readahead, self.max_readahead),
                flags=granted & 0xFFFFFFFF, max_background=64, congestion_threshold=48,
                max_write=self.max_write, time_gran=1, max_pages=max_pages, map_alignment=0,
                flags2=granted >> 32)
            self.init_in = init
            self.send(hdr.unique, out.pack())
            for fn in self._after_init:
                try:
                    fn()
                except Exception:  # the connection stays up; the failure is logged
                    self._log(f"after INIT:\n{traceback.format_exc()}")
            self.initialized.set()

    # --- replies ------------------------------------------------------------------------

    def send(self, unique: int, payload: Reply) -> None:
        """Reply to request `unique` with `payload` (see the module docstring)."""
        if isinstance(payload, (bytes, memoryview, bytearray)):  # the usual reply first
            self._write([_OUT_HEADER.pack(_OUT_SIZE + len(payload), 0, unique), payload])
            return
        if payload is None:
            self._write([_OUT_HEADER.pack(OutHeader.SIZE, 0, unique)])
            return
        parts = list(payload)
        size = OutHeader.SIZE + sum(map(len, parts))
        if len(parts) >= IOV_MAX:
            parts = [b"".join(parts)]
        parts.insert(0, _OUT_HEADER.pack(size, 0, unique))
        self._write(parts)

    def send_error(self, unique: int, err: int) -> None:
        """Reply to request `unique` with error `err` (positive errno)."""
        self._write([_OUT_HEADER.pack(OutHeader.SIZE, -err, unique)])

    def _write(self, iov: list[Buffer]) -> None:
        fd = getattr(self._local, "fd", self.fd)  # where this thread's request came from
        while True:
            try:
                os.writev(fd, iov)
                return
            except BlockingIOError:
                select.select([], [fd], [], POLL_INTERVAL_MS / 1000)
            except InterruptedError:
                continue
            except OSError as exc:
                # ENOENT: the request was interrupted and is gone; not an error.
                if exc.errno == errno.ENOENT:
                    return
                if exc.errno == errno.EFAULT:
                    # The kernel faulted copying a reply buffer (the memory under a device
                    # mapping went away: an image truncated or unbacked). It has answered the
                    # request with EIO; this process got an error return, not a signal.
                    self.reply_faults += 1
                    if self.reply_faults == 1 or self.reply_faults % 1000 == 0:
                        self._log(f"{self.reply_faults} replies could not be copied from the "
                                  f"device mapping (answered EIO)")
                    return
                if exc.errno in (errno.ENODEV, errno.EPIPE, errno.EBADF, errno.ECONNRESET,
                                 errno.ENOTCONN):
                    self.stop("connection closed")
                    return
                self._log(f"reply failed: {exc.strerror}")
                return

    def _log(self, message: str) -> None:
        print(f"{self.name}: {message}", file=sys.stderr, flush=True)
