"""An image file on a filesystem that runs out of room: writing commands fail cleanly with
"no room", log nothing, and never die of SIGBUS."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famfs.fs.filesystem import Filesystem, _page_runs
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@pytest.fixture
def cramped_image(tmp_path: Path) -> Iterator[str]:
    """A sparse 1 GiB image on a tmpfs of 48 MiB (room for the metadata and ~30 MiB)."""
    mnt = tmp_path / "cramped"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], check=True)
    try:
        image = str(mnt / "famfs.img")
        mkfs(image, size=1024 * MiB)
        yield image
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def entries(image: str) -> int:
    with Filesystem(image) as fs:
        return fs.log.header().next_index


def test_creat_randomize_beyond_the_backing_store_fails_cleanly(cramped_image: str, cli) -> None:
    proc = cli("creat", "-s", "200m", "-r", "-S", "1", f"{cramped_image}:big")
    assert proc.returncode == 1, proc.stderr
    assert "no room" in proc.stderr and "Traceback" not in proc.stderr
    assert entries(cramped_image) == 0


def test_cp_beyond_the_backing_store_fails_cleanly(cramped_image: str, cli,
                                                   tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(100 * MiB))
    proc = cli("cp", str(src), f"{cramped_image}:big")
    assert proc.returncode == 1 and "no room" in proc.stderr, proc.stderr
    assert entries(cramped_image) == 0


def test_files_that_fit_are_still_made_after_a_refusal(cramped_image: str, cli) -> None:
    assert cli("creat", "-s", "200m", "-r", "-S", "1", f"{cramped_image}:big").returncode == 1
    assert cli("creat", "-s", "8m", "-r", "-S", "2", f"{cramped_image}:small").returncode == 0
    assert cli("verify", "-S", "2", "-f", f"{cramped_image}:small").returncode == 0



_RUN = st.tuples(st.integers(0, 2), st.integers(0, 1 << 24), st.integers(1, 1 << 16))


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(_RUN, min_size=0, max_size=300))
def test_the_storage_reserved_for_a_batch_is_the_pages_its_files_use(runs) -> None:
    """Whatever the number of runs (few are merged one by one, many in bulk): the pages
    fallocate is asked for are exactly the pages the runs touch, runs that touch merged."""
    page = 4096
    pages = {(dev, p) for dev, offset, length in runs
             for p in range(offset // page, -(-(offset + length) // page))}
    got = _page_runs(runs, page)
    assert {(dev, p) for dev, start, length in got
            for p in range(start // page, (start + length) // page)} == pages
    assert all(start % page == 0 and length % page == 0 for _, start, length in got)
    assert got == sorted(got)
    for (dev_a, start_a, len_a), (dev_b, start_b, _) in zip(got, got[1:], strict=False):
        assert dev_a != dev_b or start_a + len_a < start_b
