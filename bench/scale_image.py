"""Building famfs images with many small files fast, for benchmarks: entries are made as NumPy
records and appended in bulk through MetadataLog.append_records (the same checks as any append).

Layout: TOP top-level directories of SUB subdirectories each, then 4 KiB files spread over the
subdirectories round robin, one allocation unit each, laid out one after another.
"""

from __future__ import annotations

import numpy as np

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import ALLOC_UNIT, MiB, data_start
from famfs.omf.log import ENTRY_DTYPE, EntryType

FILE_BYTES = 4096


def layout(dirs: int) -> list[str]:
    """`dirs` directory paths: about sqrt(dirs) top-level directories, the rest below them."""
    top = max(1, int(dirs ** 0.5))
    out = [f"t{a:03d}" for a in range(top)]
    sub = 0
    while len(out) < dirs:
        out.append(f"t{sub % top:03d}/s{sub // top:03d}")
        sub += 1
    return out


def file_path(dirs: list[str], i: int) -> str:
    """Path of file number i."""
    return f"{dirs[i % len(dirs)]}/f{i:07d}"


def records_for(paths: list[str], is_dir: bool, first_offset: int = 0) -> np.ndarray:
    rec = np.zeros(len(paths), dtype=ENTRY_DTYPE)
    raw = np.frombuffer(b"".join(p.encode().ljust(80, b"\0") for p in paths),
                        dtype=np.uint8).reshape(len(paths), 80)
    if is_dir:
        rec["type"] = EntryType.MKDIR
        rec["d_mode"] = 0o755
        rec["d_relpath"] = raw
    else:
        rec["type"] = EntryType.FILE
        rec["f_size"] = FILE_BYTES
        rec["f_flags"] = 2
        rec["f_mode"] = 0o644
        rec["f_relpath"] = raw
        rec["ext_type"] = 0
        rec["nextents"] = 1
        rec["se"][:, 0, 1] = first_offset + np.arange(len(paths), dtype=np.uint64) * ALLOC_UNIT
        rec["se"][:, 0, 2] = ALLOC_UNIT
    return rec


def device_bytes(files: int, log_len: int) -> int:
    return data_start(log_len) + (files + 64) * ALLOC_UNIT


def build(path: str, entries: int, dirs: int, log_len: int = 256 * MiB,
          spare_files: int = 0) -> tuple[list[str], int]:
    """A sparse image at `path` whose log holds `entries` entries: `dirs` directories, then
    files. Room is left for `spare_files` more files. Returns (directories, files)."""
    dirnames = layout(min(dirs, entries))
    files = entries - len(dirnames)
    mkfs(path, log_len=log_len, size=device_bytes(files + spare_files, log_len), force=True)
    with Filesystem(path, writable=True) as fs, fs.device.append_lock():
        fs.log.append_records(records_for(dirnames, True))
        step = 100_000
        for lo in range(0, files, step):
            hi = min(files, lo + step)
            paths = [file_path(dirnames, i) for i in range(lo, hi)]
            fs.log.append_records(records_for(paths, False,
                                              data_start(log_len) + lo * ALLOC_UNIT))
        fs.log.flush()
    return dirnames, files
