"""A Dask cluster reading a dataset in famfs, each worker acting as a famfs host of its own.

    python examples/dask_famfs.py [--image /dev/shm/famfs-dask.img] [--workers 2]

1. This process is the master: it makes a famfs on an image file and produces a Parquet
   dataset (pandas writing through `famfs://` URLs) and a NumPy array (`famfs.save`).
2. A `dask.distributed.LocalCluster` starts worker processes; `famfs.dask.HostPerWorker` gives
   each one a system UUID of its own, so each is a client host of this famfs: read-only, and
   every read is a view of the device's memory, with no copy and no mount.
3. The workers read the Parquet dataset (`dask.dataframe.read_parquet("famfs://...")`) and sum
   the array (`famfs.dask.array`, chunks viewed in each worker).
4. While the cluster runs, the master adds a Parquet part and a new array; the workers see
   both on their next read, with no restart.
Each result is checked against NumPy and pandas in this process; the last line says OK.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import pandas as pd


def produce_part(image: str, index: int, rows: int) -> pd.DataFrame:
    """Write part `index` of the dataset (on the master) and return it."""
    rng = np.random.default_rng(index)
    part = pd.DataFrame({"id": np.arange(index * rows, (index + 1) * rows),
                         "value": rng.standard_normal(rows)})
    part.to_parquet(f"famfs://table/part{index:03d}.parquet", index=False,
                    storage_options={"device": image})
    return part


def worker_view(image: str) -> dict[str, object]:
    """Run in a worker: who it is to famfs, and whether its reads are views."""
    import famfs
    from famfs.access import served_for
    from famfs.fs.roles import system_uuid
    from famfs.fs.target import require_target

    arr = famfs.load(f"{image}:arrays/a.npy")
    fs = served_for(require_target(f"{image}:")).fs
    return {"uuid": str(system_uuid()), "master": fs.is_master(),
            "copied": bool(arr.flags.owndata), "writable": bool(arr.flags.writeable)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="image file to create (default: a new file in "
                        "/dev/shm or the temp directory, removed afterwards)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per Parquet part")
    args = parser.parse_args()

    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    import famfs
    import famfs.dask
    from famfs.fs.mkfs import mkfs

    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    image = args.image or os.path.join(base, f"famfs-dask-{os.getpid()}.img")
    ok = True

    def check(what: str, good: bool) -> None:
        nonlocal ok
        ok = ok and good
        print(f"{what}: {'OK' if good else 'MISMATCH'}")

    try:
        mkfs(image, size=512 * 1024 * 1024)
        famfs.mkdir(f"{image}:table")
        famfs.mkdir(f"{image}:arrays")
        parts = [produce_part(image, i, args.rows) for i in range(3)]
        array = np.random.default_rng(9).standard_normal((4096, 1024))
        famfs.save(f"{image}:arrays/a.npy", array)

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, memory_limit=0) as cluster, \
                Client(cluster) as client:
            client.register_plugin(famfs.dask.HostPerWorker())
            seen = list(client.run(worker_view, image).values())
            hosts = {s["uuid"] for s in seen}
            check(f"{len(seen)} workers, each its own client host, reading views",
                  len(hosts) == len(seen) == args.workers
                  and not any(s["master"] or s["copied"] or s["writable"] for s in seen))

            url, opts = "famfs://table", {"device": image}
            frame = dd.read_parquet(url, storage_options=opts)
            want = pd.concat(parts)
            check(f"dask.dataframe over {frame.npartitions} Parquet parts",
                  len(frame) == len(want)
                  and np.isclose(frame["value"].sum().compute(), want["value"].sum()))

            total = famfs.dask.array(f"{image}:arrays/a.npy", chunks=(512, 1024)).sum()
            check("dask.array sum over famfs chunks",
                  bool(np.isclose(total.compute(), array.sum())))

            parts.append(produce_part(image, 3, args.rows))
            later = np.arange(1_000_000, dtype=np.float64)
            famfs.save(f"{image}:arrays/later.npy", later)
            frame = dd.read_parquet(url, storage_options=opts)
            want = pd.concat(parts)
            check("a part added while the cluster runs is read",
                  frame.npartitions == 4 and len(frame) == len(want)
                  and np.isclose(frame["value"].sum().compute(), want["value"].sum()))
            total = famfs.dask.array(f"{image}:arrays/later.npy", chunks=250_000).sum()
            check("an array added while the cluster runs is read",
                  bool(total.compute() == later.sum()))
        print("famfs + dask: OK" if ok else "famfs + dask: MISMATCH")
        return 0 if ok else 1
    finally:
        if args.image is None and os.path.exists(image):
            os.unlink(image)


if __name__ == "__main__":
    sys.exit(main())
