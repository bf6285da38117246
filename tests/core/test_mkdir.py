"""famfs mkdir: directories, parents, modes and owners, and the paths it refuses."""

from __future__ import annotations

import pytest

from famfs.errors import ExistsError, NotFoundError, PathError
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory
from famfs.omf.layout import MiB


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    return image_path


def _node(image: str, relpath: str):  # type: ignore[no-untyped-def]
    with Filesystem(image) as fs:
        return fs.namespace.find(relpath)


def test_mkdir_logs_a_directory_with_mode_uid_and_gid(fs_image: str, cli) -> None:
    cli("mkdir", "-m", "0710", "-u", "12", "-g", "34", f"{fs_image}:d", check=True)
    node = _node(fs_image, "d")
    assert isinstance(node, Directory)
    assert (node.mode, node.uid, node.gid, node.index) == (0o710, 12, 34, 0)


def test_mkdir_without_p_refuses_an_existing_directory(fs_image: str, cli) -> None:
    cli("mkdir", f"{fs_image}:d", check=True)
    proc = cli("mkdir", f"{fs_image}:d")
    assert proc.returncode == 1 and "exists" in proc.stderr


def test_mkdir_without_p_refuses_a_missing_parent(fs_image: str, cli) -> None:
    proc = cli("mkdir", f"{fs_image}:a/b")
    assert proc.returncode == 1 and "parent directory a does not exist" in proc.stderr
    assert _node(fs_image, "a") is None


def test_mkdir_p_creates_parents_and_accepts_existing_ones(fs_image: str, cli) -> None:
    cli("mkdir", f"{fs_image}:a", check=True)
    cli("mkdir", "-p", f"{fs_image}:a/b/c", check=True)
    cli("mkdir", "-p", f"{fs_image}:a/b/c", check=True)
    with Filesystem(fs_image) as fs:
        assert fs.log.header().next_index == 3
        assert isinstance(fs.namespace.find("a/b/c"), Directory)


def test_mkdir_p_of_the_root_is_a_no_op(fs_image: str, cli) -> None:
    cli("mkdir", "-p", f"{fs_image}:/", check=True)
    with Filesystem(fs_image) as fs:
        assert fs.log.header().next_index == 0


def test_mkdir_through_a_file_fails(fs_image: str, cli) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        fs.create_file("f", 1)
    proc = cli("mkdir", "-p", f"{fs_image}:f/sub")
    assert proc.returncode == 1 and "f is a file" in proc.stderr


@pytest.mark.parametrize("path", ["a/../b", "..", "a//b", "./a"])
def test_mkdir_refuses_paths_that_climb_or_are_empty(fs_image: str, path: str) -> None:
    with Filesystem(fs_image, writable=True) as fs, pytest.raises(PathError):
        fs.mkdir(path, parents=True)
    with Filesystem(fs_image) as fs:
        assert fs.log.header().next_index == 0


def test_mkdir_refuses_a_path_longer_than_79_bytes(fs_image: str, cli) -> None:
    proc = cli("mkdir", f"{fs_image}:{'x' * 80}")
    assert proc.returncode == 1 and "79 bytes" in proc.stderr


def test_mkdir_of_a_non_famfs_path_fails(tmp_path, cli) -> None:
    proc = cli("mkdir", str(tmp_path / "x"))
    assert proc.returncode == 1 and "not a famfs path" in proc.stderr


def test_in_process_errors_are_typed(fs_image: str) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        fs.mkdir("d")
        with pytest.raises(ExistsError):
            fs.mkdir("d")
        with pytest.raises(NotFoundError):
            fs.mkdir("x/y")
