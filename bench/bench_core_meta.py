"""Benchmark: replaying, checking and shadow-replaying a full default log (15,420 entries).

Run: python bench/bench_core_meta.py [--runs N]

Builds a sparse image in /dev/shm whose 8 MiB log is full (directories, simple and interleaved
files), then times, in-process and through the real command line:
  - baseline: reading the 8 MiB log and zlib.crc32 over it (the least any replay must do),
  - Filesystem open (decode + check every entry, namespace, allocator),
  - fsck (open + report), logplay of the device, logplay --shadow into a fresh tree,
  - CLI wall time of `famfs fsck` and `famfs logplay` against `python -c pass`.
Figures are medians; ratios are against the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import os
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


def median_time(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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


def cli_time(args: list[str], runs: int) -> float:
    def run() -> None:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return median_time(run, runs)


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
        log_len = 8 * MiB
        runs = args.runs
        base = median_time(lambda: baseline_read_crc(path, log_len), runs)
        t_open = median_time(lambda: open_fs(path), runs)
        t_fsck = median_time(lambda: fsck(path), runs)
        t_shadow = median_time(lambda: shadow_replay(path), max(1, runs // 3))
        py = sys.executable
        cli_base = cli_time([py, "-c", "pass"], runs)
        cli_fsck = cli_time([py, "-m", "famfs", "fsck", path], runs)
        cli_logplay = cli_time([py, "-m", "famfs", "logplay", path], runs)

        print(f"full log: {entries} entries (8 MiB log), built in {build:.2f} s")
        print(f"baseline  read 8 MiB log + crc32        {base * 1e3:8.2f} ms")
        print(f"in-process Filesystem open (replay)     {t_open * 1e3:8.2f} ms   "
              f"{t_open / base:6.1f}x baseline   {t_open / entries * 1e6:5.2f} us/entry")
        print(f"in-process fsck (replay + report)       {t_fsck * 1e3:8.2f} ms   "
              f"{t_fsck / base:6.1f}x baseline")
        print(f"in-process logplay --shadow (new tree)  {t_shadow * 1e3:8.2f} ms   "
              f"{t_shadow / base:6.1f}x baseline")
        print(f"baseline  python -c pass                {cli_base * 1e3:8.2f} ms")
        print(f"CLI famfs fsck (wall)                   {cli_fsck * 1e3:8.2f} ms   "
              f"{cli_fsck / cli_base:6.1f}x python startup")
        print(f"CLI famfs logplay (wall)                {cli_logplay * 1e3:8.2f} ms   "
              f"{cli_logplay / cli_base:6.1f}x python startup")
        print(f"target 500 ms: fsck in-process {'met' if t_fsck <= 0.5 else 'MISSED'}, "
              f"CLI fsck {'met' if cli_fsck <= 0.5 else 'MISSED'}, "
              f"CLI logplay {'met' if cli_logplay <= 0.5 else 'MISSED'}")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
