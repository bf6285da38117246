"""pyfamfs: famfs, the Fabric-Attached Memory File System, in Python.

Layers, from the bytes up: `famfs.omf` (on-media structs and codecs), `famfs.device` (device
access), `famfs.alloc` and `famfs.log` (allocator and log), `famfs.fs` (namespace, roles,
operations), `famfs.mapping` (mapping formats, map cache, device table), `famfs.access`
(`famfs.open`: zero-copy views), `famfs.fuse` (the FUSE server) and `famfs.cli` (the command
line). Lower layers never import higher ones.

The Python API, imported on first use to keep `import famfs` cheap:

- `famfs.open(path, mode)`: a famfs file, read and written in place, with zero-copy views;
- `famfs.create(path, size)`: a new file filled in place, logged when it is committed;
- `famfs.save` / `famfs.load`: NumPy arrays in .npy files, loaded as views;
- `famfs.mkdir`, `famfs.listdir`, `famfs.scandir`, `famfs.stat`, `famfs.walk`;
- `famfs.arrow`, `famfs.safetensors`, `famfs.dask` and `famfs.fsspec`: the data libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_FROM = {
    "open": "famfs.access",
    "FamfsFile": "famfs.access",
    "create": "famfs.producer",
    "save": "famfs.producer",
    "Writer": "famfs.producer",
    "mkdir": "famfs.api",
    "load": "famfs.api",
    "listdir": "famfs.api",
    "scandir": "famfs.api",
    "stat": "famfs.api",
    "walk": "famfs.api",
    "Stat": "famfs.api",
}
_SUBMODULES = ("api", "arrow", "safetensors", "dask", "fsspec")


def __getattr__(name: str) -> Any:
    """The Python API's functions and submodules, imported on first use."""
    module = _FROM.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"famfs.{name}")
    raise AttributeError(f"module 'famfs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_FROM, *_SUBMODULES])
