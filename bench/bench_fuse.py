"""FUSE mount benchmarks: the read path against C libfuse, metadata rate, open cost, writing
new files through the mount.

Run as root with /dev/fuse: `python bench/bench_fuse.py [--size-mib 1024] [--rounds 5]
[--files 10000] [--opens 1000] [--write-rounds 3] [--only {dd,meta,write}] [--no-install]`.
It makes images in /dev/shm, mounts them with the real CLI, and always unmounts and removes
them afterwards. Every figure is measured against a baseline in the same run, alternating with
it round by round:

1. `dd` of a SIZE file through the mount (default mount: FOPEN_DIRECT_IO, no page cache) vs a
   minimal C libfuse3 low-level server (bench/cfuse_mmap.c: the same bytes in a /dev/shm file,
   served from an mmap with fuse_reply_buf, single-threaded as libfuse's plain loop runs it),
   for bs=1M and bs=4M, with plain reads and with O_DIRECT (`iflag=direct`); each round's ratio
   is printed (target >= 1.0x). The C server is built here; gcc, libfuse3-dev and pkg-config
   are installed with apt-get if missing (--no-install: fail instead). Its multi-threaded loop
   (-t) is measured too, for reference, and a second mount with `--busy-poll 0` (its request
   thread sleeps in read(2) right after each reply);
2. four readers of four different files at once vs one reader (target >= 1.5x);
3. where the time of one READ goes: the server's Python before the reply, the writev that
   has the kernel copy the bytes, the time after it (Python, then polling for the next
   request), the gap from the reply until the next request is read; with
   `perf` installed, the server's CPU samples by kind (copy, page pinning, Python, rest);
4. `ls -lR` of a mount holding FILES files, then stat(2) of each: files per second (baseline:
   the same tree of empty files on /dev/shm);
5. open+close of OPENS files through the mount: cost per open; and the map round trips a
   client pays for them (first pass, second pass) through the mount's extended attributes
   and through the simulated kernel's GET_FMAP / GET_DAXDEV path;
6. `cp` of a SIZE file of random bytes (in /dev/shm) to a new file in the mount vs `cp` of it
   to /dev/shm, alternating round by round, each round on a fresh image (target >= 0.5x);
7. `cp -r` of a tree of FILES small files (1-4 KiB, 100 per directory) into the mount: files
   per second (target >= 2,000), against `cp -r` of it to /dev/shm; then `tar -x` of an
   archive of the same tree into the mount, against `tar -x` of it to /dev/shm (the rate is
   reported). Each round uses a fresh image (the tree's names take most of a default log).
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path

import cfuse
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.mounts import mount_of
from famfs.fuse import cpu_latency
from famfs.fuse import session as session_module
from famfs.fuse.mount import MountRequest, Server
from famfs.fuse.ops import MountOptions
from famfs.mapping.client import Connection
from famfs.mapping.files import write_file
from famfs.mapping.transport import XattrTransport
from famfs.omf.layout import GiB, MiB

SHM = Path("/dev/shm")
HERE = Path(__file__).resolve().parent
PARALLEL = 4


def famfs_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "famfs", *args], capture_output=True,
                          text=True, check=False)


@contextmanager
def mounted(image: str, *options: str) -> Iterator[str]:
    """Mount `image` on a fresh directory with `famfs mount`; unmount in any case."""
    mp = tempfile.mkdtemp(prefix="famfs-bench-")
    try:
        proc = famfs_cli("mount", *options, image, mp)
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


def dd_rate(path: str, bs: str = "1M", direct: bool = False) -> tuple[float, int]:
    """(bytes per second, bytes) of `dd if=path of=/dev/null bs=BS`, as dd reports them."""
    cmd = ["dd", f"if={path}", "of=/dev/null", f"bs={bs}"] + (["iflag=direct"] if direct else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"^(\d+) bytes .* copied, ([0-9.e+-]+) s", proc.stderr, re.M)
    if m is None:
        raise SystemExit(f"cannot parse dd output: {proc.stderr}")
    nbytes, secs = int(m.group(1)), float(m.group(2))
    return nbytes / secs, nbytes


def parallel_rate(paths: list[str], bs: str = "1M") -> float:
    """Bytes per second of one `dd` per path, all started at once (wall clock)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["dd", f"if={p}", "of=/dev/null", f"bs={bs}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in paths]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"dd failed on {proc.args}")
    elapsed = time.perf_counter() - t0
    return sum(os.path.getsize(p) for p in paths) / elapsed


def fill_file(fs: Filesystem, relpath: str, size: int, block: bytes) -> None:
    """Create `relpath` of `size` bytes holding `block` repeated."""
    node = fs.create_file(relpath, size)
    for pos in range(0, size, len(block)):
        write_file(fs, node, pos, block[:size - pos])
    fs.flush_file(node)


# --- the C libfuse baseline ------------------------------------------------------------------

@contextmanager
def c_server(binary: str, files: list[str], threaded: bool = False) -> Iterator[list[str]]:
    """Serve `files` with the C server on a fresh mount point; yields the served paths."""
    with cfuse.serving(binary, *(["-t"] if threaded else []), args=tuple(files)) as mp:
        yield [os.path.join(mp, f"f{i}") for i in range(len(files))]


# --- 1-3: the read path ---------------------------------------------------------------------

def report_rounds(label: str, ours: list[float], base: list[float], target: float,
                  indent: str = "   ") -> None:
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    print(f"{indent}{label}: mount {statistics.median(ours) / GiB:.2f} GiB/s, baseline "
          f"{statistics.median(base) / GiB:.2f} GiB/s (medians); ratio per round "
          + " ".join(f"{r:.2f}" for r in ratios)
          + f"; median {statistics.median(ratios):.2f}x (target >= {target}x)")


def bench_read_path(size: int, par_size: int, rounds: int, install: bool,
                    mount_options: list[str], stack: ExitStack) -> None:
    cfuse.ensure_toolchain(install)
    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="famfs-bench-cc-"))
    binary = cfuse.build("cfuse_mmap.c", workdir)
    image = stack.enter_context(scratch("seq"))
    unpolled = stack.enter_context(scratch("seq-unpolled"))
    plain = stack.enter_context(scratch("plain"))
    mkfs(image, size=size + PARALLEL * par_size + 64 * MiB)
    mkfs(unpolled, size=size + 64 * MiB)
    block = os.urandom(16 * MiB)
    with Filesystem(image, writable=True) as fs:
        fill_file(fs, "big", size, block)
        for i in range(PARALLEL):
            fill_file(fs, f"par{i}", par_size, block)
    with Filesystem(unpolled, writable=True) as fs:
        fill_file(fs, "big", size, block)
    with open(plain, "wb") as fh:
        for pos in range(0, size, len(block)):
            fh.write(block[:size - pos])
    with ExitStack() as mounts:
        mp = mounts.enter_context(mounted(image, *mount_options))
        big = os.path.join(mp, "big")
        unpolled_big = os.path.join(
            mounts.enter_context(mounted(unpolled, *mount_options, "--busy-poll", "0")), "big")
        with open(big, "rb") as a, open(unpolled_big, "rb") as b, open(plain, "rb") as c:
            if not a.read(4 * MiB) == b.read(4 * MiB) == c.read(4 * MiB):
                raise SystemExit("the mounts and the /dev/shm file differ")
        (c_big,) = mounts.enter_context(c_server(binary, [plain]))
        (c_mt_big,) = mounts.enter_context(c_server(binary, [plain], threaded=True))
        for path in (big, unpolled_big, c_big, c_mt_big):  # fault the mappings in first
            dd_rate(path)
        print(f"1. dd of {size // MiB} MiB through the mount vs the C libfuse3 server "
              f"(cfuse_mmap, same bytes from /dev/shm), {rounds} alternating rounds:")
        for bs in ("1M", "4M"):
            for direct in (False, True):
                ours, base, base_mt, ours_unpolled = [], [], [], []
                for r in range(rounds):
                    order = [(ours, big), (base, c_big), (base_mt, c_mt_big),
                             (ours_unpolled, unpolled_big)]
                    for out, path in (order if r % 2 == 0 else order[::-1]):
                        out.append(dd_rate(path, bs, direct)[0])
                label = f"bs={bs}{' iflag=direct' if direct else ''}"
                report_rounds(f"{label} vs C", ours, base, 1.0)
                report_rounds(f"{label} vs C -t (multi-threaded, reference)", ours, base_mt, 1.0)
                report_rounds(f"{label}, mount --busy-poll 0 vs C (reference)", ours_unpolled,
                              base, 1.0)
        pars = [os.path.join(mp, f"par{i}") for i in range(PARALLEL)]
        for path in pars:
            dd_rate(path)
        one, many = [], []
        for r in range(rounds):
            if r % 2 == 0:
                one.append(parallel_rate(pars[:1]))
                many.append(parallel_rate(pars))
            else:
                many.append(parallel_rate(pars))
                one.append(parallel_rate(pars[:1]))
        ratios = [m / o for m, o in zip(many, one, strict=True)]
        print(f"2. {PARALLEL} readers of {par_size // MiB} MiB files at once: "
              f"{statistics.median(many) / GiB:.2f} GiB/s in all, one reader "
              f"{statistics.median(one) / GiB:.2f} GiB/s; ratio per round "
              + " ".join(f"{x:.2f}" for x in ratios)
              + f"; median {statistics.median(ratios):.2f}x (target >= 1.5x)")
    # The breakdown mounts the same image in this process, once the CLI mount is gone.
    breakdown(image)


class _Timeline:
    """Wraps the session module's readv/writev to stamp every call (monotonic ns)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int, int]] = []
        self._real = session_module.os

    def __enter__(self) -> _Timeline:
        proxy = type(os)("os")
        proxy.__dict__.update(os.__dict__)
        clock = time.perf_counter_ns
        real_readv, real_writev, events = os.readv, os.writev, self.events

        def readv(fd: int, bufs: list[bytearray]) -> int:
            t0 = clock()
            n = real_readv(fd, bufs)
            events.append(("r", t0, clock(), threading.get_ident()))
            return n

        def writev(fd: int, bufs: list[bytes | memoryview]) -> int:
            t0 = clock()
            n = real_writev(fd, bufs)
            events.append(("w", t0, clock(), threading.get_ident()))
            return n

        proxy.readv, proxy.writev = readv, writev  # type: ignore[attr-defined]
        session_module.os = proxy  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        session_module.os = self._real  # type: ignore[attr-defined]

    def summary(self) -> tuple[float, float, float, float]:
        """Medians in us: Python before the reply, writev, Python after it, reply to the next
        request's arrival."""
        ev = sorted(self.events, key=lambda e: e[1])
        head, copy, tail = [], [], []
        last: dict[int, tuple[str, int, int]] = {}
        for kind, t0, t1, tid in ev:
            prev = last.get(tid)
            if kind == "w":
                copy.append(t1 - t0)
                if prev is not None and prev[0] == "r":
                    head.append(t0 - prev[2])
            elif prev is not None and prev[0] == "w":
                tail.append(t0 - prev[2])
            last[tid] = (kind, t0, t1)
        arrivals = sorted(e[2] for e in ev if e[0] == "r")
        gaps = []
        for e in ev:
            if e[0] == "w":
                i = bisect.bisect_right(arrivals, e[2])
                if i < len(arrivals):
                    gaps.append(arrivals[i] - e[2])

        def med(v: list[int]) -> float:
            return statistics.median(v) / 1e3 if v else float("nan")

        return med(head), med(copy), med(tail), med(gaps)


PERF_KINDS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("kernel copy (memcpy, fuse_copy_*)",
     lambda dso, sym: "memcpy" in sym or "copy_folio" in sym or sym.startswith("fuse_copy")
     or "copy_user" in sym or "rep_movs" in sym),
    ("pinning the source pages (gup, get_pages)",
     lambda dso, sym: "gup" in sym or "get_pages" in sym or "grab_folio" in sym),
    ("Python interpreter", lambda dso, sym: "python" in dso or sym.startswith(("_Py", "Py"))),
    ("scheduling and wakeups",
     lambda dso, sym: "task_switch" in sym or "schedule" in sym or "spin" in sym
     or "wake" in sym),
]


def perf_profile(pid: int, run: Callable[[], object]) -> list[tuple[str, float]] | None:
    """Share of the server's CPU samples by kind while `run()` runs; None without perf."""
    if shutil.which("perf") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="famfs-bench-perf-") as tmp:
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-q", "-F", "2999", "-p", str(pid), "-o", data],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        run()
        rec.terminate()
        rec.wait()
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                              "--stdio", "-q"], capture_output=True, text=True)
    shares: Counter[str] = Counter()
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(\S+)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        kind = next((k for k, match in PERF_KINDS if match(dso, sym)), "other")
        shares[kind] += pct
    if not shares:
        return None
    return [(k, shares[k]) for k, _ in PERF_KINDS] + [("other", shares["other"])]


def breakdown(image: str) -> None:
    """Section 3: the same mount served in this process, its readv/writev stamped."""
    mp = tempfile.mkdtemp(prefix="famfs-bench-t-")
    fs = Filesystem(image, writable=True)
    server = Server(MountRequest(image, mp, MountOptions()), fs)
    try:
        server.mount()
        big = os.path.join(mp, "big")
        dd_rate(big)
        with _Timeline() as tl:
            rate = dd_rate(big)[0]
        head, copy, tail, gap = tl.summary()
        print(f"3. one READ of 1 MiB (dd bs=1M, {rate / GiB:.2f} GiB/s with stamps): server "
              f"Python {head:.1f} us before the reply; writev (the kernel copies 1 MiB to the "
              f"reader) {copy:.1f} us; after it {tail:.1f} us (Python, then polling for the "
              f"next request); reply to the next request read {gap:.1f} us")
        shares = perf_profile(os.getpid(), lambda: [dd_rate(big) for _ in range(3)])
        if shares is None:
            print("   (perf is not installed: no CPU profile)")
        else:
            print("   server CPU samples: " + ", ".join(f"{k} {v:.0f}%" for k, v in shares))
    finally:
        server.shutdown()
        fs.close()
        os.rmdir(mp)


def tree_names(nfiles: int) -> list[str]:
    per_dir = 100
    return [f"d{i // per_dir:03d}/f{i % per_dir:03d}" for i in range(nfiles)]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_metadata(nfiles: int, nopens: int, mount_options: list[str], stack: ExitStack) -> None:
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
    with mounted(image, *mount_options) as mp:
        fuse_ls = timed(lambda: ls(mp))
        fuse_stat = timed(lambda: stat_all(mp))
        fuse_open = timed(lambda: open_close(mp))
        trips = xattr_round_trips(mp, names[:nopens])
    print(f"4. ls -lR of {nfiles} files: mount {nfiles / fuse_ls:,.0f} files/s, /dev/shm "
          f"{nfiles / base_ls:,.0f} files/s (ratio {base_ls / fuse_ls:.2f}x)")
    print(f"   stat of each: mount {nfiles / fuse_stat:,.0f} files/s, /dev/shm "
          f"{nfiles / base_stat:,.0f} files/s (ratio {base_stat / fuse_stat:.2f}x)")
    print(f"5. open+close of {nopens} files: mount {fuse_open / nopens * 1e6:.0f} us per open, "
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


def run_timed(*argv: str) -> float:
    """Seconds `argv` takes to run (it must succeed)."""
    return timed(lambda: subprocess.run(list(argv), check=True))


def fresh_image(name: str, size: int, stack: ExitStack) -> str:
    image = stack.enter_context(scratch(name))
    mkfs(image, size=size)
    return image


def bench_write_big(size: int, rounds: int) -> None:
    """Section 6: cp of one SIZE file into the mount vs to /dev/shm."""
    ours: list[float] = []
    base: list[float] = []
    with ExitStack() as stack:
        src = stack.enter_context(scratch("write-src"))
        with open(src, "wb") as fh:
            for _ in range(size // (64 * MiB)):
                fh.write(os.urandom(64 * MiB))
            fh.write(os.urandom(size % (64 * MiB)))
        for _ in range(rounds):
            with scratch("write-dst") as dst:
                base.append(size / run_timed("cp", src, dst))
            with ExitStack() as rnd:
                # Growth in doubling extents holds up to 3x the size until the last close.
                image = fresh_image("write-img", 3 * size + 64 * MiB, rnd)
                mp = rnd.enter_context(mounted(image))
                target = os.path.join(mp, "copy")
                ours.append(size / run_timed("cp", src, target))
                if subprocess.run(["cmp", src, target]).returncode != 0:
                    raise SystemExit("bench_fuse: the copy in the mount differs")
    report_rounds(f"6. cp of a {size // MiB} MiB file into the mount vs to /dev/shm", ours,
                  base, 0.5, indent="")


def make_small_tree(root: str, nfiles: int) -> None:
    rng = random.Random(7)
    for name in tree_names(nfiles):
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(rng.randbytes(rng.randrange(1024, 4096)))


def bench_write_tree(nfiles: int, rounds: int) -> None:
    """Section 7: cp -r and tar -x of NFILES small files into the mount vs /dev/shm."""
    size = (nfiles + 64) * 2 * MiB + 64 * MiB  # each file is logged with one 2 MiB AU
    rates: dict[str, list[float]] = {"cp": [], "cp-shm": [], "tar": [], "tar-shm": []}
    with ExitStack() as stack:
        src = stack.enter_context(scratch("tree-src"))
        make_small_tree(src, nfiles)
        archive = stack.enter_context(scratch("tree-tar"))
        subprocess.run(["tar", "-C", src, "-cf", archive, "."], check=True)
        for _ in range(rounds):
            with scratch("tree-dst") as dst:
                rates["cp-shm"].append(nfiles / run_timed("cp", "-r", src, dst))
            with ExitStack() as rnd:
                mp = rnd.enter_context(mounted(fresh_image("tree-img", size, rnd)))
                rates["cp"].append(nfiles / run_timed("cp", "-r", src, os.path.join(mp, "copy")))
            with scratch("tree-dst") as dst:
                os.mkdir(dst)
                rates["tar-shm"].append(nfiles / run_timed("tar", "-C", dst, "-xf", archive))
            with ExitStack() as rnd:
                mp = rnd.enter_context(mounted(fresh_image("tree-img", size, rnd)))
                into = os.path.join(mp, "tree")
                os.mkdir(into)
                rates["tar"].append(nfiles / run_timed("tar", "-C", into, "-xf", archive))
                if subprocess.run(["diff", "-r", src, into], capture_output=True).returncode:
                    raise SystemExit("bench_fuse: the extracted tree in the mount differs")

    def line(what: str, key: str, target: str) -> str:
        ours, base = rates[key], rates[f"{key}-shm"]
        return (f"   {what} of {nfiles} files: mount {statistics.median(ours):,.0f} files/s "
                f"(rounds " + " ".join(f"{r:,.0f}" for r in ours) + f"; {target}), /dev/shm "
                f"{statistics.median(base):,.0f} files/s (ratio "
                f"{statistics.median(ours) / statistics.median(base):.2f}x)")

    print("7. new files through the mount, medians of " + str(rounds) + " rounds:")
    print(line("cp -r", "cp", "target >= 2,000"))
    print(line("tar -x", "tar", "reported"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--parallel-mib", type=int, default=512,
                        help="size of each of the four files read at once")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--opens", type=int, default=1000)
    parser.add_argument("--write-rounds", type=int, default=3,
                        help="rounds of sections 6 and 7")
    parser.add_argument("--only", choices=("dd", "meta", "write"),
                        help="run only sections 1-3 (dd), 4-5 (meta) or 6-7 (write)")
    parser.add_argument("--workers", type=int, help="famfs mount -t WORKERS")
    parser.add_argument("--busy-poll", type=int, metavar="USEC",
                        help="famfs mount --busy-poll USEC (sections 1-5)")
    parser.add_argument("--cpu-latency", type=int, metavar="USEC",
                        help="famfs mount --cpu-latency USEC (sections 1-5), and the same CPU "
                             "latency request held by the benchmark meanwhile, so that the C "
                             "servers run under it too")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get the C toolchain when it is missing")
    args = parser.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("bench_fuse: needs root and /dev/fuse", file=sys.stderr)
        return 1
    os.environ.setdefault("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
    options = [] if args.workers is None else ["-t", str(args.workers)]
    if args.busy_poll is not None:
        options += ["--busy-poll", str(args.busy_poll)]
    held: AbstractContextManager[object] = nullcontext()
    if args.cpu_latency is not None:
        options += ["--cpu-latency", str(args.cpu_latency)]
        held = cpu_latency.holding(args.cpu_latency)
        print(f"CPU latency request of {args.cpu_latency} us: held by the mounts (--cpu-latency) "
              f"and by the benchmark itself (so the C servers run under it too)")
    with held:
        if args.only in (None, "dd"):
            with ExitStack() as stack:
                bench_read_path(args.size_mib * MiB, args.parallel_mib * MiB, args.rounds,
                                not args.no_install, options, stack)
        if args.only in (None, "meta"):
            with ExitStack() as stack:
                bench_metadata(args.files, min(args.opens, args.files), options, stack)
    if args.only in (None, "write"):
        bench_write_big(args.size_mib * MiB, args.write_rounds)
        bench_write_tree(args.files, args.write_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
