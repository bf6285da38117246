"""famfs logplay: counts, shadow trees (YAML), dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from famfs.alloc import InterleaveParams
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.shadow import file_yaml, write_shadow
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d1/d2", parents=True)
        fs.create_files([NewFile("top", MiB, mode=0o600, uid=7, gid=8),
                         NewFile("d1/d2/deep", 5 * MiB)])
        fs.create_file("d1/il", 16 * MiB, interleave=InterleaveParams(4, 2, 2 * MiB))
    return image_path


def test_logplay_of_a_device_counts_entries_files_and_directories(fs_image: str, cli) -> None:
    proc = cli("logplay", fs_image, check=True)
    assert proc.stdout.strip() == "5 log entries; 3 new files; 2 new directories"


def test_shadow_tree_mirrors_directories_and_files(fs_image: str, tmp_path: Path, cli) -> None:
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), fs_image, check=True)
    assert proc.stdout.strip() == "5 log entries; 3 new files; 2 new directories"
    root = tmp_path / "s" / "root"
    assert (root / "d1" / "d2").is_dir()
    top = yaml.safe_load((root / "top").read_text())["file"]
    assert (top["path"], top["size"], top["uid"], top["gid"]) == ("top", MiB, 7, 8)
    assert top["mode"] == 0o600
    assert len(top["simple_ext_list"]) == 1 and top["simple_ext_list"][0]["length"] == 2 * MiB
    il = yaml.safe_load((root / "d1" / "il").read_text())["file"]["striped_ext_list"][0]
    assert il["nstrips"] == 2 and il["chunk_size"] == 2 * MiB
    assert len(il["simple_ext_list"]) == 2


def test_shadow_replay_is_idempotent_and_incremental(fs_image: str, tmp_path: Path) -> None:
    shadow = str(tmp_path / "s")
    with Filesystem(fs_image) as fs:
        write_shadow(fs.namespace, shadow)
        again = write_shadow(fs.namespace, shadow)
    assert (again.new_files, again.new_directories, again.existing) == (0, 0, 5)
    with Filesystem(fs_image, writable=True) as fs:
        fs.create_file("later", 1)
        more = write_shadow(fs.namespace, shadow)
    assert (more.new_files, more.new_directories) == (1, 0)


def test_a_shadow_path_ending_in_root_is_the_root(fs_image: str, tmp_path: Path) -> None:
    with Filesystem(fs_image) as fs:
        write_shadow(fs.namespace, str(tmp_path / "x" / "root"))
    assert (tmp_path / "x" / "root" / "top").is_file()
    assert not (tmp_path / "x" / "root" / "root").exists()


def test_dry_run_writes_no_shadow_files(fs_image: str, tmp_path: Path, cli) -> None:
    proc = cli("logplay", "-n", "--shadow", str(tmp_path / "s"), "--daxdev", fs_image,
               check=True)
    assert proc.stdout.strip() == "5 log entries; 3 new files; 2 new directories"
    assert not (tmp_path / "s").exists()


def test_something_in_the_way_of_a_shadow_file_is_an_error(fs_image: str, tmp_path: Path,
                                                          cli) -> None:
    (tmp_path / "s" / "root" / "top").mkdir(parents=True)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), fs_image)
    assert proc.returncode == 1
    assert "top" in proc.stderr and "Traceback" not in proc.stderr


def test_daxdev_without_shadow_is_a_usage_error(fs_image: str, cli) -> None:
    proc = cli("logplay", "--daxdev", fs_image)
    assert proc.returncode == 1 and "--shadow" in proc.stderr


def test_logplay_of_a_non_famfs_path_fails(tmp_path: Path, cli) -> None:
    proc = cli("logplay", str(tmp_path))
    assert proc.returncode == 1 and "not a famfs" in proc.stderr


_PATH_PART = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                   exclude_characters="/\0"), min_size=1, max_size=10).filter(
    lambda p: p not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_PATH_PART, min_size=1, max_size=4))
def test_shadow_yaml_reads_back_any_path_as_written(parts: list[str]) -> None:
    relpath = "/".join(parts)
    if len(relpath.encode()) >= 80:
        return
    entry = FileEntry(relpath, 5, FileMap.simple([SimpleExtent(0, 10 * MiB, 2 * MiB)]))
    doc = yaml.load(file_yaml(entry), Loader=yaml.BaseLoader)
    assert doc["file"]["path"] == relpath
    assert doc["file"]["simple_ext_list"][0]["offset"] == "0xa00000"
