"""FUSE mount benchmarks: data throughput, metadata rate, open cost and map round trips.

Run as root with /dev/fuse: `python bench/bench_fuse.py [--size-mib 1024] [--files 10000]
[--opens 1000] [--only {dd,meta}]`. It makes images in /dev/shm, mounts them with the real CLI,
and always unmounts and removes them afterwards. Figures, each against a baseline measured in the
same run:

1. sequential `dd bs=1M` of a SIZE file through the mount (direct I/O, the default cache
   mode) vs `dd` of the same bytes from a plain /dev/shm file; target ratio >= 0.5x;
2. `ls -lR` of a mount holding FILES files, then stat(2) of each: files per second (baseline:
   the same tree of empty files on /dev/shm);
3. open+close of OPENS files through the mount: cost per open; and the map round trips a
   client pays for them (first pass, second pass) through the mount's extended attributes
   and through the simulated kernel's GET_FMAP / GET_DAXDEV path.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.mounts import mount_of
from famfs.mapping.client import Connection
from famfs.mapping.files import read_file, write_file
from famfs.mapping.transport import XattrTransport
from famfs.omf.layout import GiB, MiB

SHM = Path("/dev/shm")
HERE = Path(__file__).resolve().parent


def famfs_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "famfs", *args], capture_output=True,
                          text=True, check=False)


@contextmanager
def mounted(image: str) -> Iterator[str]:
    """Mount `image` on a fresh directory with `famfs mount`; unmount in any case."""
    mp = tempfile.mkdtemp(prefix="famfs-bench-")
    try:
        proc = famfs_cli("mount", image, mp)
        if proc.returncode != 0:
            raise SystemExit(f"famfs mount failed: {proc.stderr.strip()}")
        yield mp
    finally:
        if mount_of(image):
            proc = famfs_cli("umount", mp)
            if proc.returncode != 0:
                print(f"warning: famfs umount {mp}: {proc.stderr.strip()}", file=sys.stderr)
        os.rmdir(mp)


@contextmanager
def scratch(name: str) -> Iterator[str]:
    path = SHM / f"famfs-bench-{name}-{uuid.uuid4().hex[:8]}"
    try:
        yield str(path)
    finally:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def dd_rate(path: str) -> tuple[float, int]:
    """(bytes per second, bytes) of `dd if=path of=/dev/null bs=1M`, as dd reports them."""
    proc = subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M"], capture_output=True,
                          text=True, check=True)
    m = re.search(r"^(\d+) bytes .* copied, ([0-9.e+-]+) s", proc.stderr, re.M)
    if m is None:
        raise SystemExit(f"cannot parse dd output: {proc.stderr}")
    nbytes, secs = int(m.group(1)), float(m.group(2))
    return nbytes / secs, nbytes


def fill_file(fs: Filesystem, relpath: str, size: int) -> bytes:
    """Create `relpath` of `size` bytes with random contents; return the first MiB."""
    node = fs.create_file(relpath, size)
    block = os.urandom(16 * MiB)
    for pos in range(0, size, len(block)):
        write_file(fs, node, pos, block[:size - pos])
    fs.flush_file(node)
    return block[:MiB]


def bench_throughput(size: int, stack: ExitStack) -> None:
    image = stack.enter_context(scratch("seq"))
    plain = stack.enter_context(scratch("plain"))
    mkfs(image, size=size + 64 * MiB)
    with Filesystem(image, writable=True) as fs:
        fill_file(fs, "big", size)
        data = read_file(fs, fs.file("big"), 0, size)
    with open(plain, "wb") as fh:
        fh.write(data)
    del data
    with mounted(image) as mp:
        dd_rate(os.path.join(mp, "big"))  # warm the server's code paths
        fuse = max(dd_rate(os.path.join(mp, "big"))[0] for _ in range(3))
    base = max(dd_rate(plain)[0] for _ in range(3))
    print(f"1. sequential dd bs=1M of {size // MiB} MiB: mount (direct I/O) "
          f"{fuse / GiB:.2f} GiB/s, /dev/shm file {base / GiB:.2f} GiB/s, "
          f"ratio {fuse / base:.2f}x (target >= 0.5x)")


def tree_names(nfiles: int) -> list[str]:
    per_dir = 100
    return [f"d{i // per_dir:03d}/f{i % per_dir:03d}" for i in range(nfiles)]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_metadata(nfiles: int, nopens: int, stack: ExitStack) -> None:
    image = stack.enter_context(scratch("tree"))
    plain = stack.enter_context(scratch("tree-plain"))
    names = tree_names(nfiles)
    mkfs(image, size=(nfiles + 16) * 2 * MiB + 64 * MiB)
    with Filesystem(image, writable=True) as fs:
        for d in sorted({n.split("/")[0] for n in names}):
            fs.mkdir(d)
        fs.create_files([NewFile(n, 4096) for n in names])
    for n in names:
        os.makedirs(os.path.join(plain, os.path.dirname(n)), exist_ok=True)
        with open(os.path.join(plain, n), "wb") as fh:
            fh.truncate(4096)

    def ls(root: str) -> None:
        subprocess.run(["ls", "-lR", root], stdout=subprocess.DEVNULL, check=True)

    def stat_all(root: str) -> None:
        for n in names:
            os.stat(os.path.join(root, n))

    def open_close(root: str) -> None:
        for n in names[:nopens]:
            os.close(os.open(os.path.join(root, n), os.O_RDONLY))

    base_ls, base_stat, base_open = timed(lambda: ls(plain)), timed(lambda: stat_all(plain)), \
        timed(lambda: open_close(plain))
    with mounted(image) as mp:
        fuse_ls = timed(lambda: ls(mp))
        fuse_stat = timed(lambda: stat_all(mp))
        fuse_open = timed(lambda: open_close(mp))
        trips = xattr_round_trips(mp, names[:nopens])
    print(f"2. ls -lR of {nfiles} files: mount {nfiles / fuse_ls:,.0f} files/s, /dev/shm "
          f"{nfiles / base_ls:,.0f} files/s (ratio {base_ls / fuse_ls:.2f}x)")
    print(f"   stat of each: mount {nfiles / fuse_stat:,.0f} files/s, /dev/shm "
          f"{nfiles / base_stat:,.0f} files/s (ratio {base_stat / fuse_stat:.2f}x)")
    print(f"3. open+close of {nopens} files: mount {fuse_open / nopens * 1e6:.0f} us per open, "
          f"/dev/shm {base_open / nopens * 1e6:.1f} us per open")
    print(f"   map round trips via xattrs, first pass: {trips[0][0]} GET_FMAP + {trips[0][1]} "
          f"GET_DAXDEV ({trips[0][2] / nopens * 1e6:.0f} us per open); second pass: "
          f"{trips[1][0]} + {trips[1][1]} ({trips[1][2] / nopens * 1e6:.1f} us per open)")
    sim = simulator_round_trips(image, names[:nopens])
    print(f"   map round trips via the simulated kernel (GET_FMAP/GET_DAXDEV over a socket), "
          f"first pass: {sim[0][0]} + {sim[0][1]} ({sim[0][2] / nopens * 1e6:.0f} us per "
          f"open); second pass: {sim[1][0]} + {sim[1][1]} ({sim[1][2] / nopens * 1e6:.0f} us "
          f"per open, OPEN only)")


def xattr_round_trips(mp: str, names: list[str]) -> list[tuple[int, int, float]]:
    """(GET_FMAP, GET_DAXDEV, seconds) of two passes of opens through the xattr transport."""
    conn = Connection(XattrTransport(mp))
    out = []
    for _ in range(2):
        fmap, dax = conn.round_trips.fmap, conn.round_trips.daxdev
        t = timed(lambda: [conn.open(n) for n in names])
        out.append((conn.round_trips.fmap - fmap, conn.round_trips.daxdev - dax, t))
    return out


def simulator_round_trips(image: str, names: list[str]) -> list[tuple[int, int, float]]:
    """The same two passes through the simulated kernel against a real session."""
    sys.path.insert(0, str(HERE.parent / "tests" / "fuse"))
    from simulator import INIT_OFFER_LINUX_745, FamfsKernelClient, serve

    from famfs.fuse.famfs_ext import REVISIONS

    rev = REVISIONS["v10"]
    out = []
    with serve(image, "v10") as s:
        s.sim.init(INIT_OFFER_LINUX_745 | rev.capability)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            ids = [s.sim.lookup_path(n).nodeid for n in names]
            for _ in range(2):
                fmap, dax = kernel.trips.get_fmap, kernel.trips.get_daxdev
                t = timed(lambda: [kernel.open(i) for i in ids])
                out.append((kernel.trips.get_fmap - fmap, kernel.trips.get_daxdev - dax, t))
        finally:
            kernel.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--opens", type=int, default=1000)
    parser.add_argument("--only", choices=("dd", "meta"),
                        help="run only section 1 (dd) or only sections 2-3 (meta)")
    args = parser.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("bench_fuse: needs root and /dev/fuse", file=sys.stderr)
        return 1
    os.environ.setdefault("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
    if args.only in (None, "dd"):
        with ExitStack() as stack:
            bench_throughput(args.size_mib * MiB, stack)
    if args.only in (None, "meta"):
        with ExitStack() as stack:
            bench_metadata(args.files, min(args.opens, args.files), stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
