"""Benchmark of `famfs creat`, `famfs cp -r` and `famfs verify` on /dev/shm images.

Reports rates and ratios against baselines measured in the same run:
  * many small files: `famfs creat -M` x N and `famfs cp -r` of an N-file tree, against the
    reference's ~0.1 s per creat, against one `famfs creat` process per file, and against
    creating N empty files in a tmpfs directory with os.open;
  * one big file: `famfs creat -r -S` and `famfs verify -S` of SIZE bytes (whole commands,
    interpreter start included), against np.copyto of the same number of bytes.

Run: python bench/bench_core_data.py [--files 10000] [--size 1g] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from famfs.cli.sizes import parse_size
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs

MiB = 1 << 20
AU = 2 * MiB
REFERENCE_SECONDS_PER_CREAT = 0.1


def famfs(*args: str) -> float:
    """Seconds taken by one `famfs ...` process (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "famfs", *args], capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"famfs {args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def image_for(path: Path, files: int, file_bytes: int) -> None:
    """A sparse image big enough for `files` files of `file_bytes` each, log included."""
    log_len = 8 * MiB
    while (log_len - 48) // 544 < files + 1000:
        log_len *= 2
    data = files * -(-file_bytes // AU) * AU
    mkfs(str(path), log_len=log_len, size=2 * MiB + log_len + data + 64 * MiB, force=True)


def bench_empty_files_baseline(work: Path, files: int) -> float:
    target = work / "baseline-empty"
    target.mkdir()
    start = time.perf_counter()
    for i in range(files):
        os.close(os.open(target / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    elapsed = time.perf_counter() - start
    shutil.rmtree(target)
    return files / elapsed


def bench_one_creat_per_process(work: Path, count: int) -> float:
    image = work / "per-process.img"
    image_for(image, count, 4096)
    elapsed = sum(famfs("creat", "-s", "4k", f"{image}:p{i}") for i in range(count))
    image.unlink()
    return count / elapsed


def bench_creat_multi(work: Path, files: int) -> float:
    image = work / "creat-multi.img"
    image_for(image, files, 4096)
    args: list[str] = []
    for i in range(files):
        args += ["-M", f"{image}:f{i},4k"]
    elapsed = famfs("creat", *args)
    with Filesystem(str(image)) as fs:
        assert fs.namespace.files == files and fs.collisions == []
    image.unlink()
    return files / elapsed


def bench_cp_tree(work: Path, files: int) -> float:
    tree = work / "tree"
    for i in range(files):
        d = tree / f"d{i % 100}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(b"%08d" % i * 64)
    image = work / "cp-tree.img"
    image_for(image, files, 512)
    elapsed = famfs("cp", "-r", str(tree), f"{image}:tree")
    with Filesystem(str(image)) as fs:
        assert fs.namespace.files == files and fs.collisions == []
    image.unlink()
    shutil.rmtree(tree)
    return files / elapsed


def bench_copyto(size: int) -> float:
    src = np.ones(size, dtype=np.uint8)
    dst = np.empty(size, dtype=np.uint8)
    np.copyto(dst, src)
    start = time.perf_counter()
    np.copyto(dst, src)
    return size / (time.perf_counter() - start) / MiB


def bench_big_file(work: Path, size: int) -> tuple[float, float]:
    image = work / "big.img"
    image_for(image, 1, size)
    creat = famfs("creat", "-s", str(size), "-r", "-S", "42", f"{image}:big")
    verify = famfs("verify", "-S", "42", "-f", f"{image}:big")
    image.unlink()
    return size / creat / MiB, size / verify / MiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="small files (default 10000)")
    parser.add_argument("--size", type=parse_size, default=1 << 30,
                        help="big file size (default 1g)")
    parser.add_argument("--per-process", type=int, default=30,
                        help="single-file creat processes timed for that baseline")
    parser.add_argument("--dir", default="/dev/shm", help="where images go (tmpfs)")
    args = parser.parse_args()
    os.environ.setdefault("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
    work = Path(tempfile.mkdtemp(prefix="pyfamfs-bench-", dir=args.dir))
    try:
        n = args.files
        print(f"small files: {n}")
        empty = bench_empty_files_baseline(work, n)
        per_proc = bench_one_creat_per_process(work, args.per_process)
        multi = bench_creat_multi(work, n)
        tree = bench_cp_tree(work, n)
        reference = 1 / REFERENCE_SECONDS_PER_CREAT
        print(f"  baseline os.open of empty tmpfs files : {empty:10.0f} files/s")
        print(f"  baseline one famfs creat per process  : {per_proc:10.1f} files/s")
        for name, rate in (("famfs creat -M (one command)", multi),
                           ("famfs cp -r (one command)", tree)):
            print(f"  {name:<38}: {rate:10.0f} files/s  x{rate / reference:.0f} vs 0.1 s/creat, "
                  f"x{rate / per_proc:.0f} vs per-process, x{rate / empty:.2f} vs os.open")
        print(f"big file: {args.size / MiB:.0f} MiB")
        copy = bench_copyto(args.size)
        fill, check = bench_big_file(work, args.size)
        print(f"  baseline np.copyto                    : {copy:10.0f} MB/s")
        print(f"  famfs creat -r -S (whole command)     : {fill:10.0f} MB/s  "
              f"x{fill / copy:.2f} vs copyto")
        print(f"  famfs verify -S (whole command)       : {check:10.0f} MB/s  "
              f"x{check / copy:.2f} vs copyto")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
