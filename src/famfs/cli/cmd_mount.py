"""`famfs mount` and `famfs umount`.

`famfs mount [-r] [--foreground] [--no-follow] [--no-create] [--cache {direct,page}] DEVICE
MOUNTPOINT` replays the log of DEVICE and serves it on MOUNTPOINT through FUSE. It returns once
the mount is live (the server keeps running in the background); with --foreground it serves
until unmounted or interrupted. On the master, files and directories can be made through the
mount (--no-create refuses that, as a client does). `famfs umount MOUNTPOINT` unmounts,
including a mount whose server was killed, and waits until the server has logged the files
made through the mount and exited. As with the reference, `-f`/`--fuse` asks for FUSE (the
only mode here) and `-F`/`--nofuse` for the standalone kernel module (refused: there is none).
"""

from __future__ import annotations

import argparse
import os

from famfs.fuse.options import (
    CACHE_MODES,
    DEFAULT_BUSY_POLL_US,
    DEFAULT_PROTOCOL,
    DEFAULT_WORKERS,
    MAX_BUSY_POLL_US,
    PROTOCOL_CHOICES,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from famfs.cli.cmd_meta import add_fuse_flags
    from famfs.cli.main import add_verbose

    p = sub.add_parser("mount", help="mount a famfs (FUSE)",
                       description="Mount the famfs on DEVICE (an image file or DAX device) at "
                                   "MOUNTPOINT. Every logged file and directory appears with "
                                   "its logged mode, owner and size; .meta/.superblock and "
                                   ".meta/.log are in the root. On the master, files and "
                                   "directories can be made through the mount: a directory is "
                                   "logged at once, a file when it is last closed.")
    p.add_argument("-r", "--readonly", action="store_true", help="mount read-only")
    p.add_argument("-m", "--mmap", action="store_true",
                   help="read the log through a mapping (the default and only way here)")
    p.add_argument("--foreground", action="store_true",
                   help="serve in the foreground until unmounted or interrupted")
    add_fuse_flags(p, short=True)
    add_verbose(p)
    p.add_argument("--no-follow", dest="follow", action="store_false",
                   help="on a client, do not pick up new log entries by itself (use famfs "
                        "logplay)")
    p.add_argument("--no-create", dest="create", action="store_false",
                   help="on the master, refuse to make files and directories through the "
                        "mount (make them with famfs creat, cp and mkdir), as a client does")
    p.add_argument("--cache", choices=CACHE_MODES, default="direct",
                   help="direct: no page cache (default); page: use the page cache")
    p.add_argument("-t", "--threads", type=int, default=DEFAULT_WORKERS,
                   help=f"request threads (default {DEFAULT_WORKERS})")
    p.add_argument("--busy-poll", metavar="USEC", type=int, default=DEFAULT_BUSY_POLL_US,
                   help="after a reply, poll for the next request for up to USEC microseconds "
                        "before sleeping: less latency for a client sending requests one "
                        "after another, at most USEC of CPU time after each burst (0: never; "
                        f"default {DEFAULT_BUSY_POLL_US})")
    p.add_argument("--cpu-latency", metavar="USEC", type=int, default=None,
                   help="while requests keep coming (until the request thread sleeps, after "
                        "its busy poll), ask the kernel to keep every CPU's wake-up latency "
                        "within USEC microseconds (CPU latency QoS, /dev/cpu_dma_latency; "
                        "root). With 0, idle CPUs poll instead of halting, so a client waiting "
                        "for each reply is woken at once; the cost is CPU time on idle CPUs "
                        "while the mount is busy (default: no request)")
    p.add_argument("--famfs-protocol", choices=PROTOCOL_CHOICES, default=DEFAULT_PROTOCOL,
                   help="revision of the famfs map extension offered to the kernel: v10 and "
                        "early pull devices with GET_DAXDEV, push registers them with an "
                        f"ioctl and serves simple extents only (default {DEFAULT_PROTOCOL})")
    p.add_argument("--log", metavar="FILE",
                   help="where the background server writes its messages, appended (default: "
                        "syslog)")
    p.add_argument("device", metavar="DEVICE", help="image file or DAX device")
    p.add_argument("mountpoint", metavar="MOUNTPOINT", help="an existing directory")
    p.set_defaults(func=run_mount)

    u = sub.add_parser("umount", help="unmount a famfs",
                       description="Unmount the famfs at MOUNTPOINT (also one whose server "
                                   "died), then wait until its server has logged the files "
                                   "made through the mount and exited. A mounted famfs device "
                                   "may be named instead.")
    u.add_argument("mountpoint", metavar="MOUNTPOINT", help="mount point (or mounted device)")
    u.set_defaults(func=run_umount)


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse, before anything starts, what would fail later with a vaguer message: a missing
    device or mount point, and a --log file that cannot be opened."""
    from famfs.errors import FamfsError, NotDirectoryError, NotFoundError

    if not os.path.exists(args.device):
        raise NotFoundError(f"{args.device}: no such device or image file")
    if not os.path.exists(args.mountpoint):
        raise NotFoundError(f"{args.mountpoint}: mount point does not exist (make it with "
                            f"mkdir -p {args.mountpoint})")
    if not os.path.isdir(args.mountpoint):
        raise NotDirectoryError(f"{args.mountpoint}: mount point is not a directory")
    if args.log is not None:
        try:
            fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise FamfsError(f"--log {args.log}: cannot open the server's log file: "
                             f"{exc.strerror}") from None
        os.close(fd)


def run_mount(args: argparse.Namespace) -> int:
    from famfs.cli.cmd_meta import check_nofuse
    from famfs.cli.main import ArgumentsError
    from famfs.errors import FamfsError
    from famfs.fuse.cpu_latency import MAX_LIMIT_US
    from famfs.fuse.mount import MountRequest, serve_daemon, serve_foreground
    from famfs.fuse.ops import MountOptions

    check_nofuse(args)
    if args.mmap and args.readonly:
        raise FamfsError("-m (--mmap) and -r are mutually exclusive: in the reference -r reads "
                         "the log with read(2), which -m excludes (here -r mounts read-only; "
                         "leave out -m)")
    _check_paths(args)
    if args.threads < 1:
        raise ArgumentsError(f"--threads {args.threads}: must be at least 1")
    if not 0 <= args.busy_poll <= MAX_BUSY_POLL_US:
        raise ArgumentsError(f"--busy-poll {args.busy_poll}: must be 0 to {MAX_BUSY_POLL_US} "
                             f"microseconds")
    if args.cpu_latency is not None and not 0 <= args.cpu_latency <= MAX_LIMIT_US:
        raise ArgumentsError(f"--cpu-latency {args.cpu_latency}: must be 0 to {MAX_LIMIT_US} "
                             f"microseconds")
    if args.famfs_protocol not in PROTOCOL_CHOICES:
        raise ArgumentsError(f"--famfs-protocol {args.famfs_protocol}: expected one of "
                             f"{', '.join(PROTOCOL_CHOICES)}")
    req = MountRequest(args.device, args.mountpoint,
                       MountOptions(readonly=args.readonly, cache=args.cache,
                                    follow=args.follow, create=args.create,
                                    freeze_gc=True),
                       workers=args.threads, busy_poll_us=args.busy_poll,
                       cpu_latency_us=args.cpu_latency, famfs_protocol=args.famfs_protocol,
                       log=args.log)
    if args.verbose:
        print(f"daxdev={os.path.realpath(args.device)}, mpt={os.path.realpath(args.mountpoint)}")
    if args.foreground:
        return serve_foreground(req)
    return serve_daemon(req)


def run_umount(args: argparse.Namespace) -> int:
    from famfs.fuse.mount import unmount

    unmount(args.mountpoint)
    return 0
