"""Benchmark: reading a file striped over 1, 2 and 4 devices through famfs.open.

Run: python bench/bench_multidev.py [--runs N] [--gib G] [--chunk MIB]

One famfs over four image devices in /dev/shm; three files of G GiB (default 1), interleaved
with one strip on each of 1, 2 and 4 devices (`-N 1/2/4`, CHUNK MiB chunks, default 2), each
filled with a pattern. Each file is opened with famfs.open and read through its zero-copy view:

  first read   open + view + NumPy sum, the process's caches dropped before (mapping every
               run of the file, faulting its pages in), best of --runs
  sum          NumPy sum over the view (memory read bandwidth), best of --runs
  copy         np.copyto of the view into a buffer, best of --runs

Rates are GB/s, side by side, each with its ratio to the 1-device file measured in the same
run. All the devices are the same memory here, so striping cannot add bandwidth: the target is
no loss, >= 0.95x of one device for sum and copy.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import uuid

import numpy as np

import famfs
from famfs.access import release_connections
from famfs.alloc import InterleaveParams
from famfs.fs.devadd import mkfs_devices
from famfs.fs.filesystem import Filesystem
from famfs.mapping.files import file_pieces
from famfs.omf.layout import GiB, MiB
from timing import best

SHM = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
STRIPES = (1, 2, 4)
TARGET = 0.95



def build(paths: list[str], size: int, chunk: int) -> None:
    """The famfs on `paths` (4 devices) and one file per stripe count, filled."""
    device_size = 2 * size + 64 * MiB
    mkfs_devices(paths[0], paths[1:], size=device_size)
    with Filesystem(paths[0], writable=True) as fs:
        for n in STRIPES:
            node = fs.create_file(f"striped{n}", size,
                                  interleave=InterleaveParams(None, n, chunk))
            assert len({s.devindex for s in node.entry.fmap.all_extents()}) == n
            for off, view in file_pieces(fs, node):
                arr = np.frombuffer(view, dtype=np.uint64)
                arr[:] = np.arange(off // 8, off // 8 + len(arr), dtype=np.uint64)
            fs.flush_file(node)


def measure(primary: str, size: int, runs: int) -> dict[int, dict[str, float]]:
    """GB/s of each way of reading, by stripe count; the measurements are taken round-robin
    over the files, in an order rotated each round, so drift in the machine's load hits every
    file alike."""
    words = size // 8
    expect = words * (words - 1) // 2 % (1 << 64)
    dst = np.empty(words, np.uint64)
    dst[:] = 0
    opened = {n: famfs.open(f"{primary}:striped{n}") for n in STRIPES}
    views = {n: opened[n].array(np.uint64) for n in STRIPES}
    for n in STRIPES:
        assert int(views[n].sum(dtype=np.uint64)) == expect, f"striped{n}: wrong bytes"
    times: dict[int, dict[str, list[float]]] = {n: {"first read": [], "sum": [], "copy": []}
                                                for n in STRIPES}
    def order(k: int) -> list[int]:
        return list(STRIPES[k % len(STRIPES):] + STRIPES[:k % len(STRIPES)])

    for k in range(runs):
        for n in order(k):
            times[n]["sum"].append(best(lambda n=n: views[n].sum(dtype=np.uint64), 1))
            times[n]["copy"].append(best(lambda n=n: np.copyto(dst, views[n]), 1))
    for f in opened.values():
        f.close()
    views.clear()
    for k in range(runs):
        for n in order(k):
            release_connections()
            gc.collect()

            def first(n: int = n) -> None:
                with famfs.open(f"{primary}:striped{n}") as f:
                    f.array(np.uint64).sum(dtype=np.uint64)

            times[n]["first read"].append(best(first, 1))
    release_connections()
    return {n: {k: size / min(v) / 1e9 for k, v in kinds.items()} for n, kinds in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--chunk", type=int, default=2, help="chunk size in MiB")
    args = parser.parse_args(argv)
    size = int(args.gib * GiB) // (8 * args.chunk * MiB) * 8 * args.chunk * MiB
    base = os.path.join(SHM, f"famfs-bench-md-{uuid.uuid4().hex[:8]}")
    paths = [f"{base}-{i}.img" for i in range(4)]
    print(f"== reading a {size / GiB:.2f} GiB file striped over 1, 2 and 4 devices "
          f"({args.chunk} MiB chunks) through famfs.open; best of {args.runs} ==")
    try:
        build(paths, size, args.chunk * MiB)
        rates = measure(paths[0], size, args.runs)
    finally:
        release_connections()
        for p in paths:
            if os.path.exists(p):
                os.unlink(p)
    kinds = ("first read", "sum", "copy")
    print(f"{'':>12}" + "".join(f"{f'{n} device' + ('s' if n > 1 else ''):>22}"
                                 for n in STRIPES))
    failed = False
    for kind in kinds:
        base_rate = rates[1][kind]
        cells = []
        for n in STRIPES:
            ratio = rates[n][kind] / base_rate
            cells.append(f"{rates[n][kind]:8.2f} GB/s ({ratio:4.2f}x)")
            if kind != "first read" and ratio < TARGET:
                failed = True
        print(f"{kind:>12}" + "".join(f"{c:>22}" for c in cells))
    print(f"target: sum and copy >= {TARGET:.2f}x of one device: "
          f"{'not met' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
