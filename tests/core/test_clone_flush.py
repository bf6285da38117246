"""famfs clone (a deliberate cross-link) and famfs flush."""

from __future__ import annotations

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file, write_file
from famfs.omf.layout import MiB


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d")
        fs.create_file("d/src", 3 * MiB)
    return image_path


def test_clone_logs_a_file_with_the_same_extents(fs_image: str, cli) -> None:
    cli("clone", f"{fs_image}:d/src", f"{fs_image}:copy", check=True)
    with Filesystem(fs_image) as fs:
        src, copy = fs.file("d/src"), fs.file("copy")
        assert copy.entry.fmap == src.entry.fmap and copy.size == src.size
        assert sum(c.length for c in fs.collisions) == 2 * 2 * MiB


def test_fsck_fails_after_clone_naming_the_collision(fs_image: str, cli) -> None:
    cli("clone", f"{fs_image}:d/src", f"{fs_image}:copy", check=True)
    proc = cli("fsck", fs_image)
    assert proc.returncode == 1
    assert "log entry 2: device 0 offset 0xa00000" in proc.stdout
    assert "collision" in proc.stderr


def test_clone_onto_an_existing_name_fails(fs_image: str, cli) -> None:
    proc = cli("clone", f"{fs_image}:d/src", f"{fs_image}:d")
    assert proc.returncode == 1 and "exists" in proc.stderr


def test_clone_of_a_directory_fails(fs_image: str, cli) -> None:
    proc = cli("clone", f"{fs_image}:d", f"{fs_image}:x")
    assert proc.returncode == 1 and "directory" in proc.stderr


def test_flush_of_a_file_succeeds(fs_image: str, cli) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        write_file(fs, fs.file("d/src"), 0, b"durable")
    cli("flush", f"{fs_image}:d/src", check=True)
    with Filesystem(fs_image) as fs:
        assert read_file(fs, fs.file("d/src"), 0, 7) == b"durable"


def test_flush_of_a_directory_is_an_error_but_files_still_flush(fs_image: str, cli) -> None:
    proc = cli("flush", f"{fs_image}:d", f"{fs_image}:d/src")
    assert proc.returncode == 1
    assert "directory" in proc.stderr and proc.stderr.count("\n") == 1
