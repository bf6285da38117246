"""Dask over famfs: arrays whose chunks are zero-copy views of famfs .npy files, taken in
each worker's own process, and a worker plugin that makes every worker a host of its own.

Parquet and CSV datasets need nothing from here: `dask.dataframe.read_parquet("famfs://...",
storage_options={"device": DEVICE})` goes through the fsspec filesystem (`famfs.fsspec`).
Needs the `dask` extra.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import numpy as np


class NpyFile:
    """A famfs .npy file as a lazy array: pickles as its name alone; indexing opens it in the
    process that indexes (once per process, then cached) and returns a view, not a copy."""

    def __init__(self, path: str) -> None:
        self.path = path
        from famfs.access import open as famfs_open

        with famfs_open(path) as f:
            dtype, shape, fortran, _ = f.npy_header()
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
        self.fortran = fortran

    def __reduce__(self) -> tuple[Any, ...]:
        return (_npy_file, (self.path, self.dtype.str, self.shape, self.fortran))

    def __getitem__(self, index: Any) -> np.ndarray:
        from famfs.api import load

        return load(self.path)[index]

    def __len__(self) -> int:
        return self.shape[0]


def _npy_file(path: str, dtype: str, shape: tuple[int, ...], fortran: bool) -> NpyFile:
    obj = NpyFile.__new__(NpyFile)
    obj.path, obj.dtype, obj.shape, obj.fortran = path, np.dtype(dtype), shape, fortran
    obj.ndim = len(shape)
    return obj


def array(path: str, chunks: Any = "auto") -> Any:
    """A dask array over the famfs .npy file `path` (DEVICE:PATH or a path in a mount). The
    graph holds only the file's name; every chunk is a view of the file, made in the worker
    that computes it."""
    import dask.array as da

    source = NpyFile(path)
    return da.from_array(source, chunks=chunks, asarray=False, fancy=False,
                         name=f"famfs-{uuid.uuid5(uuid.NAMESPACE_URL, path).hex}")


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is part of the dask extra
    WorkerPlugin = object  # type: ignore[assignment,misc]


class HostPerWorker(WorkerPlugin):  # type: ignore[misc,valid-type]
    """Give each worker process a system UUID of its own (FAMFS_SYSTEM_UUID), so that one
    machine acts as several famfs hosts: each worker is a client of a filesystem made by the
    scheduler's host. Register with `client.register_plugin(HostPerWorker())`."""

    name = "famfs-host-per-worker"

    def setup(self, worker: Any) -> None:
        os.environ["FAMFS_SYSTEM_UUID"] = str(uuid.uuid4())
        os.environ.pop("FAMFS_SYSTEM_UUID_FILE", None)
