"""Mounting a famfs: the mount(2)/umount2(2) calls, the server process, stale-mount cleanup.

A pyfamfs mount is a plain FUSE mount made with mount(2) (no libfuse, no fusermount): source is
the absolute device path, type `fuse.famfs`, options `fd=N,rootmode=40000,user_id=U,group_id=G,
allow_other,default_permissions`. The server process holds the /dev/fuse descriptor; when it dies
without unmounting, the mount point is left stale (stat fails with ENOTCONN) until
`unmount()` removes it.

While it serves, the server holds a shared flock(2) on the mount point directory underneath the
mount (taken before mounting, dropped by the kernel when the server exits, killed or not).
`unmount()` takes that lock exclusively after unmounting, so it returns once the server has
finished: the files made through the mount are logged by then (a kernel may drop RELEASE
requests still queued at unmount; the server logs those files when the connection ends).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace

from famfs.errors import FamfsError, UsageError
from famfs.fs.filesystem import Filesystem
from famfs.fs.mounts import FSTYPE, famfs_mounts, mount_of
from famfs.fuse import famfs_ext
from famfs.fuse.cpu_latency import CPU_LATENCY_DEVICE, CpuLatencyRequest
from famfs.fuse.handlers import standard_handlers
from famfs.fuse.ops import FamfsOperations, MountOptions
from famfs.fuse.options import DEFAULT_BUSY_POLL_US, DEFAULT_WORKERS
from famfs.fuse.session import Session
from famfs.mapping.server import MapServer

FUSE_DEVICE = "/dev/fuse"
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
INIT_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
SERVER_EXIT_TIMEOUT_S = 60.0
"""How long `unmount()` waits for the server to log what it must and exit."""

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(FamfsError):
    """A mount or unmount that could not be done; the message says why."""


def sys_mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """mount(2); OSError on failure."""
    if _libc.mount(os.fsencode(source), os.fsencode(target), fstype.encode(), flags,
                   data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def sys_umount(target: str, flags: int = 0) -> None:
    """umount2(2); OSError on failure."""
    if _libc.umount2(os.fsencode(target), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def is_stale(mountpoint: str) -> bool:
    """Whether `mountpoint` is a FUSE mount whose server is gone (ENOTCONN)."""
    try:
        os.statvfs(mountpoint)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def fuse_mount(device: str, mountpoint: str, readonly: bool = False) -> int:
    """Open /dev/fuse and mount it on `mountpoint` for `device`; returns the FUSE descriptor.
    The kernel sends INIT next; the mount is usable once a server answers it."""
    if not os.path.exists(FUSE_DEVICE):
        raise MountError(f"{FUSE_DEVICE} does not exist (is the fuse module loaded?)")
    try:
        fd = os.open(FUSE_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise MountError(f"{FUSE_DEVICE}: {exc.strerror}") from None
    data = (f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()},"
            f"allow_other,default_permissions")
    flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
    try:
        sys_mount(device, mountpoint, FSTYPE, flags, data)
    except OSError as exc:
        os.close(fd)
        raise MountError(f"mount {device} on {mountpoint}: {exc.strerror}") from None
    return fd


def raise_readahead(mountpoint: str, nbytes: int) -> None:
    """Let the page cache read ahead `nbytes` per request on this mount (the kernel caps the
    INIT max_readahead at its default of 128 KiB). Best effort: needs root and sysfs."""
    try:
        dev = os.stat(mountpoint).st_dev
        with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb", "w") as fh:
            fh.write(str(nbytes // 1024))
    except OSError:
        pass


def _mount_entry(mountpoint: str) -> tuple[str, str] | None:
    want = {mountpoint.rstrip("/") or "/", os.path.realpath(mountpoint)}
    for source, target in famfs_mounts():
        if target in want:
            return source, target
    return None


def unmount(mountpoint: str) -> str:
    """Unmount the famfs mounted on `mountpoint` (or the mounted famfs device of that name),
    stale or live; returns its device.

    A busy mount is refused, unless it is stale (its server died): that one is detached.
    """
    entry = _mount_entry(mountpoint)
    if entry is None and os.path.exists(mountpoint) and not os.path.isdir(mountpoint):
        target = mount_of(mountpoint)  # a device: unmount where it is mounted
        entry = None if target is None else (os.path.abspath(mountpoint), target)
    if entry is None:
        raise UsageError(f"{mountpoint}: not a famfs mount point (nor a mounted famfs device)")
    device, target = entry
    stale = is_stale(target)
    try:
        sys_umount(target, 0)
    except OSError as exc:
        if exc.errno == errno.EBUSY and stale:
            sys_umount(target, MNT_DETACH)
        elif exc.errno == errno.EBUSY:
            raise MountError(f"{target}: busy (files are open or a process is inside it)") \
                from None
        else:
            raise MountError(f"umount {target}: {exc.strerror}") from None
    if not wait_for_server(target):
        raise MountError(f"{target}: unmounted, but its server is still running after "
                         f"{SERVER_EXIT_TIMEOUT_S:.0f} s: files made through the mount may not "
                         f"be logged yet")
    return device


def hold_mountpoint(mountpoint: str) -> int:
    """Open `mountpoint` and hold a shared flock on it for as long as the descriptor (returned)
    is open: the server's sign that it is still running."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        raise
    return fd


def wait_for_server(mountpoint: str, timeout: float = SERVER_EXIT_TIMEOUT_S) -> bool:
    """Wait until no server holds `mountpoint` (see hold_mountpoint); False after `timeout`
    seconds."""
    try:
        fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.005)
            except OSError:
                return True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class MountRequest:
    """What `famfs mount` was asked to do."""

    device: str
    mountpoint: str
    options: MountOptions
    workers: int = DEFAULT_WORKERS
    busy_poll_us: int = DEFAULT_BUSY_POLL_US
    """Microseconds the request thread polls for the next request before it sleeps."""
    cpu_latency_us: int | None = None
    """While serving, hold a CPU latency QoS request of this many microseconds (root only;
    famfs.fuse.cpu_latency); None: hold none."""
    famfs_protocol: str = "v10"
    log: str | None = None
    """Where a background server writes its messages (appended); None: syslog."""
    devices: tuple[tuple[int, str], ...] = ()
    """The device table: (index, local path) of every device of the filesystem. Filled in
    when the filesystem is opened (open_filesystem: each device found by UUID and checked);
    paths named here beforehand are used as they are (still checked)."""

    def device_paths(self) -> dict[int, str]:
        return dict(self.devices)


def check_request(req: MountRequest) -> MountRequest:
    """Refuse a mount that cannot work, before anything is started: a device already mounted
    (stale or not), a mount point that is missing, not a directory, or stale."""
    device = os.path.abspath(req.device)
    mountpoint = os.path.abspath(req.mountpoint)
    existing = mount_of(device)
    if existing is not None:
        hint = " (its server is gone; run famfs umount on it)" if is_stale(existing) else ""
        raise UsageError(f"{device}: already mounted at {existing}{hint}")
    if is_stale(mountpoint):
        raise UsageError(f"{mountpoint}: a stale mount is in the way; run famfs umount on it")
    if _mount_entry(mountpoint) is not None:
        raise UsageError(f"{mountpoint}: a famfs is mounted there already")
    if not os.path.isdir(mountpoint):
        raise UsageError(f"{mountpoint}: mount point is not a directory")
    log = None if req.log is None else os.path.abspath(req.log)
    return replace(req, device=device, mountpoint=mountpoint, log=log)


class Server:
    """One mounted famfs being served: filesystem, operations and request loop."""

    def __init__(self, req: MountRequest, fs: Filesystem) -> None:
        self.req = req
        self.fs = fs
        self.maps = MapServer(fs, req.device_paths())
        self.ops = FamfsOperations(fs, req.options, self.maps)
        self.fd = -1
        self.hold_fd = -1
        """The mount point held while serving (hold_mountpoint)."""
        self.session: Session | None = None
        self.cpu_latency: CpuLatencyRequest | None = None
        self.extension: famfs_ext.FamfsExtension | None = None
        self.stopping = False
        self._shutdown_lock = threading.Lock()

    def mount(self) -> None:
        """Mount, start the request loop and wait until the kernel's INIT was answered."""
        if self.req.cpu_latency_us is not None:
            try:
                self.cpu_latency = CpuLatencyRequest(self.req.cpu_latency_us)
            except OSError as exc:
                raise MountError(f"--cpu-latency: {CPU_LATENCY_DEVICE}: {exc.strerror}") \
                    from None
        try:
            self.hold_fd = hold_mountpoint(self.req.mountpoint)
        except OSError as exc:
            raise MountError(f"{self.req.mountpoint}: {exc.strerror}") from None
        self.fd = fuse_mount(self.req.device, self.req.mountpoint, self.req.options.readonly)
        session = Session(self.fd, standard_handlers(self.ops), workers=self.req.workers,
                          busy_poll=self.req.busy_poll_us * 1e-6,
                          cpu_latency=self.cpu_latency, name="famfs")
        self.session = session
        self.extension = _install_extension(session, self.ops, self.req.famfs_protocol)
        session.start()
        if not session.wait_initialized(INIT_TIMEOUT_S):
            reason = session.stop_reason or "no INIT from the kernel"
            self.shutdown()
            raise MountError(f"mount {self.req.device} on {self.req.mountpoint}: {reason}")
        self.ops.start()
        if self.req.options.cache == "page":
            raise_readahead(self.req.mountpoint, session.max_write)

    def wait(self) -> None:
        """Serve until the mount goes away (unmounted, or `shutdown()`)."""
        assert self.session is not None
        while self.session.running:
            self.session.join(0.5)

    def shutdown(self) -> None:
        """Stop serving: detach the mount if it is still there, stop the loop, release all."""
        with self._shutdown_lock:
            self._shutdown()

    def _shutdown(self) -> None:
        if _mount_entry(self.req.mountpoint) is not None and self.fd >= 0:
            try:
                sys_umount(self.req.mountpoint, MNT_DETACH)
            except OSError:
                pass
        if self.session is not None:
            self.session.stop("shut down")
            self.session.join(SHUTDOWN_TIMEOUT_S)
        self.ops.close()
        if self.cpu_latency is not None:
            self.cpu_latency.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.hold_fd >= 0:
            os.close(self.hold_fd)
            self.hold_fd = -1


def _install_extension(session: Session, ops: FamfsOperations, protocol: str
                       ) -> famfs_ext.FamfsExtension | None:
    """Offer the famfs map extension (`protocol`: v10, early, push or off). Devices the log
    adds while mounted are pushed to the kernel (push revision) as the replay finds them."""
    ext = famfs_ext.install(session, ops, protocol, devices=ops.maps.device_indices)
    if ext is not None:
        ops.device_listeners.append(ext.push_devices)
    return ext


def open_filesystem(req: MountRequest) -> tuple[MountRequest, Filesystem]:
    """Replay the famfs on the request's primary device and open every one of its devices;
    returns the request with its device table filled in. Errors name the device (a missing
    secondary: its UUID and index); nothing is written."""
    try:
        fs = Filesystem(req.device, writable=not req.options.readonly,
                        device_paths=req.device_paths())
    except FamfsError as exc:
        if req.device in str(exc):
            raise
        raise MountError(f"{req.device}: {exc}") from None
    try:
        fs.devices.open_all()
    except FamfsError as exc:
        fs.close()
        raise MountError(f"cannot mount {req.device}: {exc}") from None
    return replace(req, devices=tuple(sorted(fs.devices.paths().items()))), fs


def serve_foreground(req: MountRequest) -> int:
    """Mount and serve in this process until unmounted or signalled (SIGINT, SIGTERM)."""
    req, fs = open_filesystem(check_request(req))
    server = Server(req, fs)
    _on_signals(server)
    server.mount()
    _serve(server)
    return 0


def _on_signals(server: Server) -> None:
    """SIGTERM and SIGINT unmount and stop the server (installed before mounting)."""
    def on_signal(signum: int, frame: object) -> None:
        server.stopping = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _serve(server: Server) -> None:
    try:
        if not server.stopping:
            server.wait()
    finally:
        server.shutdown()


def serve_daemon(req: MountRequest) -> int:
    """Mount in a background server process; return 0 once the mount is live. Errors are
    reported here (raised) and the server exits."""
    req, fs = open_filesystem(check_request(req))
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(wfd)
        fs.device.buf.release()
        for member in fs.devices:
            if member.index and member.device is not None:
                member.device.buf.release()
        chunks = []
        while True:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(rfd)
        message = b"".join(chunks).decode(errors="replace")
        if message == "ok":
            return 0
        os.waitpid(pid, 0)
        raise MountError(message or "the mount server died before the mount was live")
    os.close(rfd)
    code = 1
    try:
        os.setsid()
        os.chdir("/")  # hold no directory busy
        server = Server(req, fs)
        _on_signals(server)
        try:
            server.mount()
        except FamfsError as exc:
            os.write(wfd, str(exc).encode())
            os._exit(1)
        _detach_stdio(req.log)
        os.write(wfd, b"ok")
        os.close(wfd)
        _serve(server)
        code = 0
    except BaseException as exc:  # the child must never return into the CLI
        try:
            os.write(wfd, f"mount server failed: {exc}".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _detach_stdio(log: str | None) -> None:
    """Detach from the terminal: messages go to file `log` (appended), or to syslog."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if log is not None:
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            fd = -1
        if fd >= 0:
            os.dup2(fd, 2)
            os.close(fd)
            return
    sys.stderr = _SyslogStream()


class _SyslogStream:
    """A text stream that sends each line to syslog (facility daemon, ident famfs)."""

    def __init__(self) -> None:
        import syslog

        self._syslog = syslog
        syslog.openlog("famfs", syslog.LOG_PID, syslog.LOG_DAEMON)
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line:
                self._syslog.syslog(self._syslog.LOG_ERR, line)
        return len(text)

    def flush(self) -> None:
        pass
