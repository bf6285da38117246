"""The FUSE request loop: read requests from a file descriptor, dispatch by opcode, reply.

A `Session` runs over any file descriptor that carries FUSE wire bytes, one request per read and
one reply per write: a /dev/fuse descriptor of a live mount, or one end of a
`socket.socketpair(AF_UNIX, SOCK_SEQPACKET)` whose other end plays the kernel. Several worker
threads block in read(2) on the descriptor (the kernel wakes one of them per request; the
descriptor is put in blocking mode); each request is handled entirely on the thread that read
it. Workers leave when the connection ends: unmount (ENODEV) for /dev/fuse, the peer closing
(end of file) for a socket; `stop()` also shuts a socket down for reading to wake them.

Extension points (stable):
- `Session.handlers` / `Session.register(opcode, handler)`: the dispatch table. A handler gets a
  `Request` and returns the reply payload: bytes, a memoryview, a list of buffers (sent with
  one writev, no copy), or None for an empty reply. To reply with an error it raises an
  OSError (famfs.errors are OSErrors) or any exception with a positive int `errno` attribute;
  a `wire.WireError` (bad arguments) becomes EINVAL, anything else EIO. Opcodes in
  `wire.NO_REPLY_OPCODES` never get a reply.
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
import os
import select
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from famfs.fuse import wire
from famfs.fuse.options import DEFAULT_WORKERS
from famfs.fuse.wire import InHeader, InitFlag, InitIn, InitOut, Opcode, OutHeader

MAX_WRITE = 1 << 20
"""Largest WRITE (and READ) the kernel is told to send: 1 MiB (256 pages via max_pages)."""
PAGE_SIZE = 4096
IOV_MAX = 1024
POLL_INTERVAL_MS = 250

DEFAULT_WANT = (InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES
                | InitFlag.PARALLEL_DIROPS | InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO
                | InitFlag.ASYNC_DIO | InitFlag.DIRECT_IO_ALLOW_MMAP)
"""INIT flags asked for when the kernel offers them."""

Buffer = bytes | bytearray | memoryview
Reply = Buffer | Sequence[Buffer] | None


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


Handler = Callable[[Request], Reply]


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
                 on_destroy: Callable[[], None] | None = None, name: str = "fuse") -> None:
        self.fd = fd
        self.handlers: dict[int, Handler] = dict(handlers or {})
        self.workers = max(1, workers)
        self.max_write = max_write
        self.max_readahead = max_readahead
        self.want = want
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
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._init_lock = threading.Lock()
        self.stop_reason: str | None = None
        self.errors = 0
        """Requests answered with EIO because a handler failed unexpectedly."""

    # --- configuration ------------------------------------------------------------------

    def register(self, opcode: int, handler: Handler) -> None:
        """Route `opcode` to `handler` (replacing any handler it had)."""
        self.handlers[int(opcode)] = handler

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
        blocked on a connection that has not ended)."""
        os.set_blocking(self.fd, True)
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

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
        try:
            if stat.S_ISSOCK(os.fstat(self.fd).st_mode):
                with socket.socket(fileno=os.dup(self.fd)) as sock:
                    sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def _worker(self) -> None:
        buf = bytearray(self.bufsize)
        view = memoryview(buf)
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
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
                if exc.errno == errno.ENOENT:
                    continue
                if exc.errno == errno.ENODEV:
                    self.stop("unmounted")
                else:
                    self.stop(f"read failed: {exc.strerror}")
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
        hdr = InHeader.unpack(msg)
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
            code = error_number(exc)
            if code == errno.EIO and not hasattr(exc, "errno"):
                self.errors += 1
                self._log(f"opcode {hdr.opcode} failed:\n{traceback.format_exc()}")
            self.send_error(hdr.unique, code)
            return
        finally:
            self._inflight.discard(hdr.unique)
            self.interrupted.discard(hdr.unique)
        self.send(hdr.unique, result)

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
        if payload is None:
            parts: list[Buffer] = []
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            parts = [payload]
        else:
            parts = list(payload)
        size = OutHeader.SIZE + sum(len(p) for p in parts)
        if len(parts) >= IOV_MAX:
            parts = [b"".join(parts)]
        self._write([OutHeader(size, 0, unique).pack(), *parts])

    def send_error(self, unique: int, err: int) -> None:
        """Reply to request `unique` with error `err` (positive errno)."""
        self._write([OutHeader(OutHeader.SIZE, -err, unique).pack()])

    def _write(self, iov: list[Buffer]) -> None:
        while True:
            try:
                os.writev(self.fd, iov)
                return
            except BlockingIOError:
                select.select([], [self.fd], [], POLL_INTERVAL_MS / 1000)
            except InterruptedError:
                continue
            except OSError as exc:
                # ENOENT: the request was interrupted and is gone; not an error.
                if exc.errno == errno.ENOENT:
                    return
                if exc.errno in (errno.ENODEV, errno.EPIPE, errno.EBADF, errno.ECONNRESET,
                                 errno.ENOTCONN):
                    self.stop("connection closed")
                    return
                self._log(f"reply failed: {exc.strerror}")
                return

    def _log(self, message: str) -> None:
        print(f"{self.name}: {message}", file=sys.stderr, flush=True)
