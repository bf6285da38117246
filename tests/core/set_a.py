"""Golden set-a: a 47-entry image written by the reference library, with its fsck and logplay
output (tests/data/famfs-golden/set-a, see the README there)."""

from __future__ import annotations

import gzip
from pathlib import Path

SET_A = Path(__file__).parent.parent / "data" / "famfs-golden" / "set-a"
DEVICE_SIZE = 1 << 30
LOG_OFFSET = 2 << 20
MASTER_UUID = "f3fd1fb5-24cf-41ab-9b45-9ce0ea1936ca"
"""The system UUID in set-a's superblock: the host that wrote it."""


def make_set_a_image(path: str) -> str:
    """Write the set-a image (sparse, 1 GiB) to `path`; returns `path`."""
    with open(path, "wb") as fh:
        fh.truncate(DEVICE_SIZE)
        fh.write(gzip.decompress((SET_A / "sb.bin.gz").read_bytes()))
        fh.seek(LOG_OFFSET)
        fh.write(gzip.decompress((SET_A / "log.bin.gz").read_bytes()))
    return path


def expected(name: str) -> str:
    """The reference's output file `name` (fsck.txt, fsck-human.txt, ...)."""
    return (SET_A / name).read_text()
