"""An image file on a filesystem that runs out of room: writing commands fail cleanly with
"no room", log nothing, and never die of SIGBUS."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from famfs.fs.filesystem import Filesystem
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
