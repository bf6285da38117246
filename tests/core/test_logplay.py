"""famfs logplay: counts, shadow trees (YAML), dry runs."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator
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


# --- with a live mount ----------------------------------------------------------------------

MNT_DETACH = 2


def _mounted(mountpoint: str) -> bool:
    from famfs.fs.mounts import famfs_mounts

    real = os.path.realpath(mountpoint)
    return any(target == real for _, target in famfs_mounts())


@pytest.fixture
def live_mount(fs_image: str, tmp_path: Path) -> Iterator[str]:
    """`famfs mount -f` of fs_image as a child process; unmounted and stopped in teardown."""
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("FUSE mounts are impossible here (/dev/fuse or root missing)")
        pytest.skip("needs /dev/fuse and root")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "famfs", "mount", "-f", fs_image,
                             str(mountpoint)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not _mounted(str(mountpoint)) and proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("mount did not come up")
            time.sleep(0.02)
        assert _mounted(str(mountpoint)), proc.stderr.read().decode() if proc.stderr else ""
        yield str(mountpoint)
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        if _mounted(str(mountpoint)) and libc.umount2(os.fsencode(mountpoint), 0) != 0:
            libc.umount2(os.fsencode(mountpoint), MNT_DETACH)
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.fuse
def test_logplay_into_a_mount_adds_what_the_master_logged(fs_image: str, live_mount: str,
                                                           cli) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        fs.create_file("d1/after-mount", MiB)
    proc = cli("logplay", live_mount, check=True)
    entries, files, dirs = (int(w) for w in proc.stdout.replace(";", "").split()[::3])
    assert files <= 1 and dirs == 0 and entries <= 1
    assert os.path.getsize(os.path.join(live_mount, "d1", "after-mount")) == MiB
    again = cli("logplay", live_mount, check=True)
    assert again.stdout.strip().endswith("0 new files; 0 new directories")


@pytest.mark.fuse
def test_dry_run_logplay_of_a_mount_counts_only_what_is_missing(live_mount: str, cli) -> None:
    proc = cli("logplay", "-n", live_mount, check=True)
    assert proc.stdout.strip() == "5 log entries; 0 new files; 0 new directories"


@pytest.mark.fuse
def test_a_mounted_device_is_checked_through_its_mount_point(fs_image: str, live_mount: str,
                                                             cli) -> None:
    by_device = cli("fsck", fs_image)
    assert by_device.returncode == 1 and "mount point" in by_device.stderr
    assert cli("fsck", "-f", fs_image).returncode == 0
    by_mount = cli("fsck", live_mount)
    assert by_mount.returncode == 0, by_mount.stderr
    assert "files:             3" in by_mount.stdout


@pytest.mark.fuse
def test_mkfs_refuses_a_mounted_device(fs_image: str, live_mount: str, cli) -> None:
    proc = cli("-f", fs_image, prog="mkfs.famfs")
    assert proc.returncode == 1 and "mounted" in proc.stderr


@pytest.mark.fuse
def test_mkdir_and_getmap_through_mount_paths(live_mount: str, cli) -> None:
    cli("mkdir", os.path.join(live_mount, "fresh"), check=True)
    assert os.path.isdir(os.path.join(live_mount, "fresh"))
    proc = cli("getmap", os.path.join(live_mount, "top"))
    assert proc.returncode == 0, proc.stderr
    assert "\textents: 1" in proc.stdout
    assert cli("getmap", os.path.join(live_mount, "d1")).returncode == 1


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
