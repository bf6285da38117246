"""Metadata commands given a live mount: logplay into it, fsck through it, mkfs refusing it,
mkdir and getmap by paths inside it."""

from __future__ import annotations

import os

import pytest

from famfs.alloc import InterleaveParams
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d1/d2", parents=True)
        fs.create_files([NewFile("top", MiB, mode=0o600, uid=7, gid=8),
                         NewFile("d1/d2/deep", 5 * MiB)])
        fs.create_file("d1/il", 16 * MiB, interleave=InterleaveParams(4, 2, 2 * MiB))
    return image_path


@pytest.fixture
def live_mount(fs_image: str, mounter) -> str:
    """`famfs mount -f` of fs_image; unmounted and stopped in teardown by `mounter`."""
    return mounter.foreground(fs_image)[0]


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
    assert "  3 files\n" in by_mount.stdout


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
