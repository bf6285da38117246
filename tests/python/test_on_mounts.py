"""The Python API on paths inside a real famfs mount: the same rules as DEVICE:PATH (no client
writes the log, the all-hosts-read-only flag holds, the file modes are the kernel's), and the
namespace functions."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from python_helpers import put, share_with

import famfs
from famfs.errors import AccessError, RoleError
from famfs.fs.filesystem import Filesystem
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RO, MiB
from famfs.omf.log import FileEntry

pytestmark = pytest.mark.fuse


@pytest.fixture
def populated(image):
    with Filesystem(image, writable=True) as fs:
        fs.mkdir("d")
        put(fs, "d/f", b"in the mount" * 100)
        put(fs, "root-only", b"secret" * 10, mode=0o600)
        put(fs, "readable", b"r" * 100, mode=0o644)
        with fs.device.append_lock():
            fmap = fs.allocator.alloc_contiguous(MiB)
            fs.log.append([FileEntry("ro", MiB, fmap, flags=FILE_FLAG_ALL_HOSTS_RO)])
    return image


def test_a_client_never_opens_the_log_for_writing_through_a_mount(populated, mounter,
                                                                   as_client):
    client = str(uuid.uuid4())
    mp, _ = mounter.mount(populated, env={"FAMFS_SYSTEM_UUID": client})
    as_client()
    with open(populated, "rb") as fh:
        before = fh.read(16 * MiB)
    with pytest.raises(RoleError, match="only its master may write"):
        famfs.open(os.path.join(mp, ".meta/.log"), "r+b")
    with pytest.raises(RoleError, match="only its master may write"):
        famfs.open(os.path.join(mp, ".meta/.superblock"), "r+b")
    with open(populated, "rb") as fh:
        assert fh.read(16 * MiB) == before


def test_the_read_only_flag_holds_through_a_mount_on_the_master(populated, mounter):
    mp, _ = mounter.mount(populated)
    with pytest.raises(AccessError, match="read-only for all hosts"):
        famfs.open(os.path.join(mp, "ro"), "r+b")
    with famfs.open(os.path.join(mp, "ro")) as f:
        assert f.size == MiB


def test_the_master_writes_a_file_through_a_mount_path(populated, mounter):
    mp, _ = mounter.mount(populated)
    with famfs.open(os.path.join(mp, "d/f"), "r+b") as f:
        f.write(b"IN")
    with open(os.path.join(mp, "d/f"), "rb") as plain:
        assert plain.read(12) == b"IN the mount"


def test_a_mode_refusal_through_a_mount_is_an_access_error(populated, mounter, public_dir,
                                                           user):
    share_with(populated, user)
    os.mkdir(os.path.join(public_dir, "mnt"))
    mp, _ = mounter.mount(populated, mountpoint=os.path.join(public_dir, "mnt"))
    assert user.run(lambda: famfs.open(os.path.join(mp, "readable")).read(3)) == b"rrr"
    with pytest.raises(AccessError, match="permission denied") as caught:
        user.run(famfs.open, os.path.join(mp, "readable"), "r+b")
    assert not isinstance(caught.value, RoleError)
    with pytest.raises(AccessError, match="permission denied"):
        user.run(famfs.open, os.path.join(mp, "root-only"))


def test_namespace_functions_on_a_mount_hide_meta(populated, mounter):
    mp, _ = mounter.mount(populated)
    assert famfs.listdir(mp) == ["d", "readable", "ro", "root-only"]
    assert famfs.stat(os.path.join(mp, "d/f")).st_size == 1200
    assert [top for top, _, _ in famfs.walk(mp)] == [mp, os.path.join(mp, "d")]


def test_mkdir_on_a_mount_path_shows_up_in_the_mount(populated, mounter):
    mp, _ = mounter.mount(populated)
    famfs.mkdir(os.path.join(mp, "made/here"), parents=True)
    assert os.path.isdir(os.path.join(mp, "made/here"))


def test_a_file_created_on_a_mount_path_is_read_through_the_mount(populated, mounter):
    mp, _ = mounter.mount(populated)
    data = np.arange(100_000, dtype=np.int32)
    famfs.save(os.path.join(mp, "d/saved.npy"), data)
    with open(os.path.join(mp, "d/saved.npy"), "rb") as plain:
        assert np.array_equal(np.load(plain), data)
    assert np.array_equal(famfs.load(os.path.join(mp, "d/saved.npy")), data)
