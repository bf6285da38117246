"""`famfs mount` / `famfs umount`: what a mount shows, what is refused, how it is cleaned up."""

from __future__ import annotations

import errno
import os
import signal
import stat
import uuid

import pytest

from conftest import fill, is_mounted, populate, wait_for
from famfs.fs.filesystem import Filesystem
from famfs.fuse.mount import is_stale
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse

FILES = {
    "a.bin": (5000, 0o640, 1001, 1002),
    "d1/b.bin": (2 * MiB + 1, 0o600, 7, 8),
    "d1/d2/c.bin": (4096, 0o444, 0, 0),
}
DIRS = {"d1": (0o750, 11, 12), "d1/d2": (0o700, 13, 14)}


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, FILES, DIRS)
    return famfs_image


def test_mount_shows_logged_files_with_their_attributes_and_data(image, mounter, cli):
    mp, proc = mounter.mount(image)
    assert proc.returncode == 0 and is_mounted(mp)
    for tag, (path, (size, mode, uid, gid)) in enumerate(FILES.items(), 1):
        st = os.stat(os.path.join(mp, path))
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (stat.S_IFREG, mode)
        assert (st.st_size, st.st_uid, st.st_gid, st.st_nlink) == (size, uid, gid, 1)
        with open(os.path.join(mp, path), "rb") as fh:
            assert fh.read() == fill(tag, size)
    for path, (mode, uid, gid) in DIRS.items():
        st = os.stat(os.path.join(mp, path))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == mode
        assert (st.st_uid, st.st_gid) == (uid, gid)
    assert sorted(os.listdir(mp)) == [".meta", "a.bin", "d1"]
    assert sorted(os.listdir(os.path.join(mp, "d1"))) == ["b.bin", "d2"]


def test_mount_is_listed_as_fuse_famfs_with_the_absolute_device_path(image, mounter):
    mp, _ = mounter.mount(image)
    with open("/proc/mounts") as fh:
        lines = [line.split() for line in fh]
    assert [os.path.abspath(image), mp, "fuse.famfs"] in [line[:3] for line in lines]


def test_meta_files_have_the_reference_sizes_and_the_log_is_private_on_the_master(image,
                                                                                 mounter):
    mp, _ = mounter.mount(image)
    sb = os.stat(os.path.join(mp, ".meta/.superblock"))
    log = os.stat(os.path.join(mp, ".meta/.log"))
    assert (sb.st_size, stat.S_IMODE(sb.st_mode)) == (2 * MiB, 0o444)
    with Filesystem(image) as fs:
        log_len = fs.sb.log_len
        raw_sb = fs.device.read(0, 2 * MiB)
        raw_log = fs.device.read(fs.sb.log_offset, log_len)
    assert (log.st_size, stat.S_IMODE(log.st_mode)) == (log_len, 0o600)
    assert (log.st_uid, log.st_gid) == (os.getuid(), os.getgid())
    with open(os.path.join(mp, ".meta/.superblock"), "rb") as fh:
        assert fh.read() == raw_sb
    with open(os.path.join(mp, ".meta/.log"), "rb") as fh:
        assert fh.read() == raw_log


def test_log_file_is_read_only_and_private_on_a_client(image, mounter):
    mp, _ = mounter.mount(image, env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
    assert stat.S_IMODE(os.stat(os.path.join(mp, ".meta/.log")).st_mode) == 0o400


def test_second_mount_of_the_same_device_is_refused(image, mounter):
    first, _ = mounter.mount(image)
    second, proc = mounter.mount(image, check=False)
    assert proc.returncode == 1
    assert "already mounted" in proc.stderr and first in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not is_mounted(second)


def test_mount_of_a_device_without_a_superblock_fails_cleanly(image_path, mounter):
    with open(image_path, "wb") as fh:
        fh.truncate(64 * MiB)
    mp, proc = mounter.mount(image_path, check=False)
    assert proc.returncode == 1
    assert image_path in proc.stderr and "Traceback" not in proc.stderr
    assert not is_mounted(mp)


def test_mount_on_a_missing_mount_point_fails_cleanly(image, mounter, tmp_path):
    missing = str(tmp_path / "nowhere")
    _, proc = mounter.mount(image, mountpoint=missing, check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_umount_unmounts_and_the_server_exits(image, mounter, cli):
    mp, _ = mounter.mount(image)
    pid = mounter.server_pid(mp)
    proc = cli("umount", mp)
    assert proc.returncode == 0, proc.stderr
    assert not is_mounted(mp)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), 5.0)


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[-1].startswith("Z")


def test_umount_of_something_that_is_not_a_famfs_mount_fails(cli, tmp_path):
    proc = cli("umount", str(tmp_path))
    assert proc.returncode == 1 and "not a famfs mount" in proc.stderr


def test_umount_cleans_up_after_a_killed_server_and_remount_shows_everything(
        image, mounter, cli):
    mp, _ = mounter.mount(image)
    with open(os.path.join(mp, "a.bin"), "r+b") as fh:
        fh.write(b"written through the mount")
    os.kill(mounter.server_pid(mp), signal.SIGKILL)
    assert wait_for(lambda: is_stale(mp))
    again, proc = mounter.mount(image, check=False)
    assert proc.returncode == 1 and "famfs umount" in proc.stderr
    assert cli("umount", mp).returncode == 0
    assert not is_mounted(mp)
    mp2, _ = mounter.mount(image)
    with open(os.path.join(mp2, "a.bin"), "rb") as fh:
        data = fh.read()
    assert data == b"written through the mount" + fill(1, 5000)[25:]
    for tag, (path, (size, mode, uid, gid)) in list(enumerate(FILES.items(), 1))[1:]:
        st = os.stat(os.path.join(mp2, path))
        assert (st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
            (size, mode, uid, gid)
        with open(os.path.join(mp2, path), "rb") as fh:
            assert fh.read() == fill(tag, size)


def test_foreground_mount_serves_until_terminated(image, mounter):
    mp, proc = mounter.foreground(image)
    assert is_mounted(mp)
    with open(os.path.join(mp, "d1/d2/c.bin"), "rb") as fh:
        assert fh.read() == fill(3, 4096)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not is_mounted(mp)


def test_read_only_mount_refuses_writes(image, mounter):
    mp, _ = mounter.mount(image, "-r")
    with pytest.raises(OSError) as exc:
        open(os.path.join(mp, "a.bin"), "r+b")
    assert exc.value.errno == errno.EROFS
    with open(os.path.join(mp, "a.bin"), "rb") as fh:
        assert fh.read() == fill(1, 5000)


def test_mount_without_arguments_is_a_usage_error(cli):
    proc = cli("mount")
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_mount_help_lists_the_options(cli):
    out = cli("mount", "--help").stdout
    for option in ("-r", "-f", "--no-follow", "--cache"):
        assert option in out


def test_mount_with_busy_polling_off_serves_reads(image, mounter):
    mp, proc = mounter.mount(image, "--busy-poll", "0")
    assert proc.returncode == 0
    for _ in range(3):
        with open(os.path.join(mp, "d1/b.bin"), "rb") as fh:
            assert fh.read() == fill(2, 2 * MiB + 1)


@pytest.mark.parametrize("value", ["-1", "100001", "ten"])
def test_mount_refuses_a_busy_poll_out_of_range(image, mounter, cli, value):
    proc = cli("mount", "--busy-poll", value, image, mounter.mountpoint())
    assert proc.returncode == 2 and "--busy-poll" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_umount_of_a_busy_mount_is_refused_and_leaves_it_working(image, mounter, cli):
    mp, _ = mounter.mount(image)
    with open(os.path.join(mp, "a.bin"), "rb") as fh:
        proc = cli("umount", mp)
        assert proc.returncode == 1 and "busy" in proc.stderr
        assert fh.read() == fill(1, 5000)
    assert cli("umount", mp).returncode == 0


def test_mount_over_a_live_famfs_mount_is_refused(image, mounter):
    mp, _ = mounter.mount(image)
    other = image + ".other"
    os.link(image, other)
    try:
        _, proc = mounter.mount(other, mountpoint=mp, check=False)
        assert proc.returncode == 1 and "mounted there already" in proc.stderr
    finally:
        os.unlink(other)


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception),
                                         ("", pytest.skip.Exception)])
def test_without_dev_fuse_mount_tests_fail_under_ci_and_skip_elsewhere(
        monkeypatch, request, ci, outcome):
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists",
                        lambda p: False if p == "/dev/fuse" else real_exists(p))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="/dev/fuse is missing"):
        request.getfixturevalue("need_fuse")


def test_umount_accepts_the_mounted_device_instead_of_the_mount_point(image, mounter, cli):
    mp, _ = mounter.mount(image)
    assert cli("umount", image).returncode == 0
    assert not is_mounted(mp)
