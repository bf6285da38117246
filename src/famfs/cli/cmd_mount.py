"""`famfs mount` and `famfs umount`.

`famfs mount [-r] [-f] [--no-follow] [--cache {direct,page}] DEVICE MOUNTPOINT` replays the log of
DEVICE and serves it on MOUNTPOINT through FUSE. It returns once the mount is live (the server
keeps running in the background); with -f it serves in the foreground until unmounted or
interrupted. `famfs umount MOUNTPOINT` unmounts, including a mount whose server was killed.
"""

from __future__ import annotations

import argparse

from famfs.fuse.options import CACHE_MODES, DEFAULT_PROTOCOL, DEFAULT_WORKERS, PROTOCOL_CHOICES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("mount", help="mount a famfs (FUSE)",
                       description="Mount the famfs on DEVICE (an image file or DAX device) at "
                                   "MOUNTPOINT. Every logged file and directory appears with "
                                   "its logged mode, owner and size; .meta/.superblock and "
                                   ".meta/.log are in the root.")
    p.add_argument("-r", "--readonly", action="store_true", help="mount read-only")
    p.add_argument("-f", "--foreground", action="store_true",
                   help="serve in the foreground until unmounted or interrupted")
    p.add_argument("--no-follow", dest="follow", action="store_false",
                   help="on a client, do not pick up new log entries by itself (use famfs "
                        "logplay)")
    p.add_argument("--cache", choices=CACHE_MODES, default="direct",
                   help="direct: no page cache (default); page: use the page cache")
    p.add_argument("-t", "--threads", type=int, default=DEFAULT_WORKERS,
                   help=f"request threads (default {DEFAULT_WORKERS})")
    p.add_argument("--famfs-protocol", choices=PROTOCOL_CHOICES, default=DEFAULT_PROTOCOL,
                   help="numbering of the famfs GET_FMAP/GET_DAXDEV extension offered to the "
                        f"kernel (default {DEFAULT_PROTOCOL})")
    p.add_argument("--log", metavar="FILE",
                   help="where the background server writes its messages, appended (default: "
                        "syslog)")
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("mountpoint", metavar="MOUNTPOINT")
    p.set_defaults(func=run_mount)

    u = sub.add_parser("umount", help="unmount a famfs",
                       description="Unmount the famfs at MOUNTPOINT (also one whose server "
                                   "died). A mounted famfs device may be named instead.")
    u.add_argument("mountpoint", metavar="MOUNTPOINT")
    u.set_defaults(func=run_umount)


def run_mount(args: argparse.Namespace) -> int:
    from famfs.errors import UsageError
    from famfs.fuse.mount import MountRequest, serve_daemon, serve_foreground
    from famfs.fuse.ops import MountOptions

    if args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be at least 1")
    if args.famfs_protocol not in ("v10", "early", "off"):
        raise UsageError(f"--famfs-protocol {args.famfs_protocol}: expected v10, early or off")
    req = MountRequest(args.device, args.mountpoint,
                       MountOptions(readonly=args.readonly, cache=args.cache,
                                    follow=args.follow),
                       workers=args.threads, famfs_protocol=args.famfs_protocol,
                       log=args.log)
    if args.foreground:
        return serve_foreground(req)
    return serve_daemon(req)


def run_umount(args: argparse.Namespace) -> int:
    from famfs.fuse.mount import unmount

    unmount(args.mountpoint)
    return 0
