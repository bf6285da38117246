"""famfs getmap: the extents or strips of a famfs file, and its exit status."""

from __future__ import annotations

import pytest

from famfs.alloc import InterleaveParams
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d")
        fs.create_file("d/simple", 3 * MiB)
        fs.create_file("striped", 8 * MiB, interleave=InterleaveParams(4, 4, 2 * MiB))
    return image_path


def test_getmap_prints_a_simple_extent(fs_image: str, cli) -> None:
    proc = cli("getmap", f"{fs_image}:d/simple")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"File:     {fs_image}:d/simple"
    assert lines[1] == f"\tsize:    {3 * MiB}"
    assert lines[2] == "\textents: 1"
    assert lines[3] == f"\t\ta00000\t{4 * MiB}"
    assert lines[4] == f"famfs_getmap: good file {fs_image}:d/simple"


def test_getmap_prints_interleaved_strips(fs_image: str, cli) -> None:
    proc = cli("getmap", f"{fs_image}:striped")
    assert proc.returncode == 0, proc.stderr
    assert f"Interleave_Param chunk_size: {2 * MiB}" in proc.stdout
    assert "Interleaved extent has 4 strips:" in proc.stdout
    with Filesystem(fs_image) as fs:
        il = fs.file("striped").entry.fmap.interleave
    for strip in il.strips:
        assert f"\t\t{strip.offset:x}\t{strip.length}\n" in proc.stdout


def test_getmap_quiet_prints_no_map(fs_image: str, cli) -> None:
    proc = cli("getmap", "-q", f"{fs_image}:striped")
    assert proc.returncode == 0
    assert "extents" not in proc.stdout


@pytest.mark.parametrize("name", ["d", "missing"])
def test_getmap_of_a_directory_or_missing_name_exits_1(fs_image: str, cli, name: str) -> None:
    proc = cli("getmap", f"{fs_image}:{name}")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr


def test_getmap_of_a_file_outside_famfs_exits_1(tmp_path, cli) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    proc = cli("getmap", str(plain))
    assert proc.returncode == 1 and "not in a famfs" in proc.stderr


def test_getmap_of_several_files_reports_each(fs_image: str, cli) -> None:
    proc = cli("getmap", "-c", f"{fs_image}:striped", f"{fs_image}:nope",
               f"{fs_image}:d/simple")
    assert proc.returncode == 1
    assert proc.stdout.count("famfs_getmap: good file") == 2
