"""Helpers shared by the mapping tests: golden entries and the test image layout."""

from __future__ import annotations

import gzip
from pathlib import Path

from famfs.alloc import InterleaveParams
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry, decode_entry

GOLDEN = Path(__file__).parents[1] / "data" / "famfs-golden"
IMAGE_SIZE = 256 * MiB
AU = 2 * MiB
INTERLEAVE = InterleaveParams(nbuckets=8, nstrips=4, chunk_size=2 * MiB)


def golden_entry(index: int) -> FileEntry:
    """The payload of FILE entry `index` of the golden log."""
    log = gzip.open(GOLDEN / "log.bin.gz").read()
    payload = decode_entry(log[48 + index * 544:48 + (index + 1) * 544], index).payload
    assert isinstance(payload, FileEntry)
    return payload
