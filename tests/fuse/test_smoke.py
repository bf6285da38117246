"""End-to-end scenarios with the real CLI and real mounts, after the reference smoke tests.

Two hosts on one device: the master mounts the image; the client host (its own system UUID,
given to its `famfs mount` through FAMFS_SYSTEM_UUID) mounts a hard link of the same image
file. A hard link is the same bytes under another path, so the second mount is not "the same
device mounted twice" (that is refused by path), exactly as two hosts each see the shared
memory device under their own /dev name.
"""

from __future__ import annotations

import errno
import os
import random
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import wait_for

pytestmark = pytest.mark.fuse


def make_tree(root: Path) -> dict[str, int]:
    """A source tree of files of various sizes and modes; returns relpath -> mode."""
    rng = random.Random(1234)
    layout = {
        "one": (1, 0o644),
        "page": (4096, 0o600),
        "odd": (123_457, 0o640),
        "sub/two-au": (4 * 1024 * 1024 + 3, 0o644),
        "sub/deeper/small": (77, 0o444),
        "sub/deeper/exec": (9000, 0o755),
    }
    for rel, (size, mode) in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        path.chmod(mode)
    return {rel: mode for rel, (_, mode) in layout.items()}


def diff_r(a: str, b: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["diff", "-r", a, b], capture_output=True, text=True)


def test_cp_r_into_the_mount_then_diff_r_and_again_after_remount(
        famfs_image, mounter, cli, tmp_path):
    src = tmp_path / "src"
    modes = make_tree(src)
    mp, _ = mounter.mount(famfs_image)
    dst = os.path.join(mp, "copy")
    proc = cli("cp", "-r", str(src), dst)
    assert proc.returncode == 0, proc.stderr
    assert diff_r(str(src), dst).returncode == 0
    assert cli("umount", mp).returncode == 0
    mp2, _ = mounter.mount(famfs_image)
    dst2 = os.path.join(mp2, "copy")
    result = diff_r(str(src), dst2)
    assert result.returncode == 0, result.stdout
    for rel, mode in modes.items():
        st = os.stat(os.path.join(dst2, rel))
        assert stat.S_IMODE(st.st_mode) == mode, rel
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_files_made_with_creat_keep_mode_owner_and_data_across_remount(
        famfs_image, mounter, cli):
    mp, _ = mounter.mount(famfs_image)
    assert cli("mkdir", "-m", "0711", "-u", "21", "-g", "22", os.path.join(mp, "dir")) \
        .returncode == 0
    f = os.path.join(mp, "dir/file")
    proc = cli("creat", "-s", "3m", "-r", "-S", "42", "-m", "0604", "-u", "31", "-g", "32", f)
    assert proc.returncode == 0, proc.stderr
    assert cli("verify", "-S", "42", "-f", f).returncode == 0
    assert cli("umount", mp).returncode == 0
    mp2, _ = mounter.mount(famfs_image)
    d = os.stat(os.path.join(mp2, "dir"))
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid) == (0o711, 21, 22)
    st = os.stat(os.path.join(mp2, "dir/file"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size) == \
        (0o604, 31, 32, 3 * 1024 * 1024)
    assert cli("verify", "-S", "42", "-f", os.path.join(mp2, "dir/file")).returncode == 0


def test_refused_operations_through_the_shell_leave_the_log_unchanged_with_no_create(
        famfs_image, mounter, cli):
    mp, _ = mounter.mount(famfs_image, "--no-create")
    assert cli("creat", "-s", "4096", os.path.join(mp, "f")).returncode == 0
    before = cli("fsck", mp).stdout
    for argv in (["touch", "new"], ["mkdir", "d"], ["rm", "f"], ["mv", "f", "g"],
                 ["ln", "f", "h"], ["ln", "-s", "f", "s"], ["truncate", "-s", "0", "f"]):
        proc = subprocess.run(argv, cwd=mp, capture_output=True, text=True)
        assert proc.returncode != 0, argv
    assert sorted(os.listdir(mp)) == [".meta", "f"]
    assert os.stat(os.path.join(mp, "f")).st_size == 4096
    assert cli("fsck", mp).stdout == before


@pytest.fixture
def two_hosts(famfs_image, mounter):
    """(master mount, client image path, client env): the client's image is a hard link."""
    master_mp, _ = mounter.mount(famfs_image)
    client_image = famfs_image + ".client"
    os.link(famfs_image, client_image)
    env = {"FAMFS_SYSTEM_UUID": str(uuid.uuid4())}
    try:
        yield master_mp, client_image, env
    finally:
        mounter.cleanup()
        os.unlink(client_image)


def test_client_sees_new_files_by_itself_within_one_second(two_hosts, mounter, cli):
    master_mp, client_image, env = two_hosts
    client_mp, _ = mounter.mount(client_image, env=env)
    assert os.listdir(client_mp) == [".meta"]
    proc = cli("creat", "-s", "1m", "-r", "-S", "5", os.path.join(master_mp, "shared"))
    assert proc.returncode == 0, proc.stderr
    path = os.path.join(client_mp, "shared")
    assert wait_for(lambda: os.path.exists(path), 1.0)
    assert cli("verify", "-S", "5", "-f", path, env=env).returncode == 0


def test_client_without_follow_sees_new_files_after_logplay(two_hosts, mounter, cli):
    master_mp, client_image, env = two_hosts
    client_mp, _ = mounter.mount(client_image, "--no-follow", env=env)
    assert cli("mkdir", os.path.join(master_mp, "d")).returncode == 0
    assert cli("creat", "-s", "8k", os.path.join(master_mp, "d/f")).returncode == 0
    assert not wait_for(lambda: os.path.exists(os.path.join(client_mp, "d")), 1.0)
    proc = cli("logplay", client_mp, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "2 log entries" in proc.stdout
    assert os.stat(os.path.join(client_mp, "d/f")).st_size == 8192
    assert cli("logplay", client_mp, env=env).stdout.startswith("0 log entries")


def test_client_writes_are_seen_by_the_master_and_client_cannot_create(
        two_hosts, mounter, cli):
    master_mp, client_image, env = two_hosts
    assert cli("creat", "-s", "4096", os.path.join(master_mp, "f")).returncode == 0
    client_mp, _ = mounter.mount(client_image, env=env)
    with open(os.path.join(client_mp, "f"), "r+b") as fh:
        fh.write(b"from the client")
    with open(os.path.join(master_mp, "f"), "rb") as fh:
        assert fh.read(15) == b"from the client"
    proc = cli("creat", "-s", "4096", os.path.join(client_mp, "g"), env=env)
    assert proc.returncode != 0 and "client" in proc.stderr
    assert not os.path.exists(os.path.join(master_mp, "g"))
    with pytest.raises(OSError) as exc:
        open(os.path.join(client_mp, ".meta/.log"), "r+b")
    assert exc.value.errno in (errno.EACCES, errno.EPERM)


def test_creat_verify_flush_fsck_and_remount_through_the_mount_path(famfs_image, mounter, cli):
    mp, _ = mounter.mount(famfs_image)
    assert os.path.isfile(os.path.join(mp, ".meta/.superblock"))
    assert os.path.isfile(os.path.join(mp, ".meta/.log"))
    for seed in (1, 2, 3):
        f = os.path.join(mp, f"test{seed}")
        assert cli("creat", "-r", "-s", "4096", "-S", str(seed), f).returncode == 0
    assert cli("mkdir", "-p", os.path.join(mp, "z/y/x")).returncode == 0
    assert cli("verify", "-S", "99", "-f", os.path.join(mp, "test1")).returncode != 0
    files = [os.path.join(mp, f"test{s}") for s in (1, 2, 3)]
    assert cli("flush", *files).returncode == 0
    assert cli("flush", *files, os.path.join(mp, "z")).returncode != 0
    assert cli("fsck", mp).returncode == 0
    assert cli("umount", mp).returncode == 0
    mp2, _ = mounter.mount(famfs_image)
    for seed in (1, 2, 3):
        proc = cli("verify", "-S", str(seed), "-f", os.path.join(mp2, f"test{seed}"))
        assert proc.returncode == 0, proc.stderr
    assert os.path.isdir(os.path.join(mp2, "z/y/x"))
    assert cli("logplay", mp2).stdout.startswith("0 log entries")
