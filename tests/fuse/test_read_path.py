"""The data path through a real mount: plain and O_DIRECT reads and writes of large blocks.

Plain opens are served one request at a time (FOPEN_DIRECT_IO); O_DIRECT opens take the
kernel's direct-I/O path, which sends the requests of one large read or write at once. Both
must move exactly the file's bytes, whatever block size and offset the caller uses.
"""

from __future__ import annotations

import mmap
import os
import subprocess

import pytest

from conftest import fill, populate
from famfs.fs.filesystem import Filesystem
from famfs.mapping.files import read_file
from famfs.omf.layout import MiB

SIZE = 9 * MiB + 4096
"""Not a multiple of the 1 MiB request size: the last request is short."""


@pytest.fixture
def mp(famfs_image, mounter) -> str:
    populate(famfs_image, {"data": (SIZE, 0o666, 0, 0)})
    mountpoint, _ = mounter.mount(famfs_image)
    return mountpoint


def aligned(size: int) -> mmap.mmap:
    """A page-aligned buffer, as O_DIRECT wants."""
    return mmap.mmap(-1, size)


@pytest.mark.parametrize("block", [MiB, 4 * MiB, 3 * MiB + 4096])
def test_o_direct_reads_return_the_file_bytes(mp, block):
    fd = os.open(os.path.join(mp, "data"), os.O_RDONLY | os.O_DIRECT)
    buf = aligned(block)
    got = bytearray()
    try:
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            got += buf[:n]
    finally:
        os.close(fd)
        buf.close()
    assert got == fill(1, SIZE)


@pytest.mark.parametrize("bs", ["1M", "4M"])
def test_dd_reads_with_and_without_o_direct_match(mp, bs, tmp_path):
    for flags in ([], ["iflag=direct"]):
        out = tmp_path / f"copy-{bs}-{len(flags)}"
        subprocess.run(["dd", f"if={os.path.join(mp, 'data')}", f"of={out}", f"bs={bs}",
                        *flags], check=True, capture_output=True)
        assert out.read_bytes() == fill(1, SIZE)


def test_o_direct_write_of_several_requests_lands_on_the_device(mp, famfs_image):
    block = 4 * MiB
    data = os.urandom(block)
    buf = aligned(block)
    buf[:] = data
    fd = os.open(os.path.join(mp, "data"), os.O_WRONLY | os.O_DIRECT)
    try:
        assert os.pwritev(fd, [buf], MiB) == block
    finally:
        os.close(fd)
        buf.close()
    expected = bytearray(fill(1, SIZE))
    expected[MiB:MiB + block] = data
    with open(os.path.join(mp, "data"), "rb") as fh:
        assert fh.read() == expected
    with Filesystem(famfs_image) as fs:
        assert read_file(fs, fs.file("data"), 0, SIZE) == expected


def test_plain_read_at_an_unaligned_offset_crossing_requests(mp):
    with open(os.path.join(mp, "data"), "rb", buffering=0) as fh:
        fh.seek(MiB - 7)
        assert fh.read(2 * MiB + 11) == fill(1, SIZE)[MiB - 7:3 * MiB + 4]
