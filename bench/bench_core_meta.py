"""Benchmark: replaying, checking and shadow-replaying a full default log (15,420 entries).

Run: python bench/bench_core_meta.py [--runs N]

Builds a sparse image in /dev/shm whose 8 MiB log is full (directories, simple and interleaved
files), then times, in-process and through the real command line:
  - baseline: reading the 8 MiB log and zlib.crc32 over it (the least any replay must do),
  - Filesystem open (decode + check every entry, namespace, allocator),
  - fsck (open + report), logplay of the device, logplay --shadow into a fresh tree,
  - CLI wall time of `famfs fsck` and `famfs logplay` against `python -c pass`, and of fsck
    with only the metadata command module loaded (what the other modules' imports cost).
Each figure is a median of wall time and of CPU time (children included): on a busy machine
the CPU figures are the ones to compare.
Figures are medians; ratios are against the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib

from famfs.alloc import InterleaveParams
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.fs.shadow import write_shadow
from famfs.omf.layout import LOG_OFFSET, GiB, MiB


def build_full_image(path: str) -> int:
    """A 40 GiB sparse famfs whose default log is full; returns the number of entries."""
    mkfs(path, size=40 * GiB, force=True)
    with Filesystem(path, writable=True) as fs:
        slots = fs.log.header().slots
        for d in range(20):
            fs.mkdir(f"dir{d}/sub", parents=True)
        fs.create_files([NewFile(f"dir{i % 20}/il{i}", 16 * MiB,
                                 interleave=InterleaveParams(8, 4, 2 * MiB)) for i in range(200)])
        n = fs.log.header().next_index
        while n < slots:
            batch = min(4000, slots - n)
            fs.create_files([NewFile(f"dir{(n + i) % 20}/sub/f{n + i}", 4096 + i)
                             for i in range(batch)])
            n += batch
        return fs.log.header().next_index


def median_time(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median (wall seconds, CPU seconds) of `runs` calls; CPU includes child processes."""
    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        cpus.append(time.process_time() - c0 + child)
    return statistics.median(walls), statistics.median(cpus)


def baseline_read_crc(path: str, log_len: int) -> None:
    with open(path, "rb") as fh:
        fh.seek(LOG_OFFSET)
        zlib.crc32(fh.read(log_len))


def open_fs(path: str) -> None:
    Filesystem(path).close()


def shadow_replay(path: str) -> None:
    root = tempfile.mkdtemp(dir="/dev/shm")
    try:
        with Filesystem(path) as fs:
            write_shadow(fs.namespace, root)
    finally:
        shutil.rmtree(root)


def cli_time(args: list[str], runs: int) -> tuple[float, float]:
    def run() -> None:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return median_time(run, runs)


META_ONLY = ("import sys; from famfs.cli import main; "
             "main.COMMAND_MODULES = ('famfs.cli.cmd_meta',); "
             "sys.exit(main.main(sys.argv[1:]))")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
    path = f"/dev/shm/bench-core-meta-{uuid.uuid4().hex[:8]}.img"
    try:
        t0 = time.perf_counter()
        entries = build_full_image(path)
        build = time.perf_counter() - t0
        runs = args.runs
        py = sys.executable
        base = median_time(lambda: baseline_read_crc(path, 8 * MiB), runs)
        cli_base = cli_time([py, "-c", "pass"], runs)
        rows = [
            ("in-process Filesystem open (replay)", median_time(lambda: open_fs(path), runs),
             base),
            ("in-process fsck (replay + report)", median_time(lambda: fsck(path), runs), base),
            ("in-process logplay --shadow (new tree)",
             median_time(lambda: shadow_replay(path), max(1, runs // 3)), base),
            ("CLI famfs fsck", cli_time([py, "-m", "famfs", "fsck", path], runs), cli_base),
            ("CLI famfs logplay", cli_time([py, "-m", "famfs", "logplay", path], runs),
             cli_base),
            ("CLI fsck, metadata commands only", cli_time([py, "-c", META_ONLY, "fsck", path],
                                                          runs), cli_base),
        ]
        print(f"full log: {entries} entries (8 MiB log), built in {build:.2f} s; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'':42} {'wall ms':>9} {'cpu ms':>9} {'cpu ratio':>10}")
        print(f"{'baseline: read 8 MiB log + crc32':42} {base[0] * 1e3:9.1f} "
              f"{base[1] * 1e3:9.1f}")
        print(f"{'baseline: python -c pass':42} {cli_base[0] * 1e3:9.1f} "
              f"{cli_base[1] * 1e3:9.1f}")
        for name, (wall, cpu), (_, ref) in rows:
            print(f"{name:42} {wall * 1e3:9.1f} {cpu * 1e3:9.1f} {cpu / ref:9.1f}x")
        print(f"replay cost per entry (cpu): {rows[0][1][1] / entries * 1e6:.2f} us. Ratios: "
              f"in-process rows against read+crc32, CLI rows against python startup.")
        for name, (wall, cpu), _ in rows:
            if "shadow" not in name:
                verdict = "met" if cpu <= 0.5 else "MISSED"
                print(f"target 500 ms, {name}: {verdict} (cpu {cpu * 1e3:.0f} ms, "
                      f"wall {wall * 1e3:.0f} ms)")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
