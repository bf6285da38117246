"""What famfs users do with a mount, spelled their way: `mount --fuse -v`, the .meta files with
flush, getmap and chkread, mkmeta, and logplay with the reference's flags."""

from __future__ import annotations

import os

import pytest

from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE

pytestmark = pytest.mark.fuse


@pytest.fixture
def mounted(famfs_image: str, mounter) -> str:
    return mounter.mount(famfs_image, "--fuse", "-vv")[0]


def test_mount_with_fuse_and_verbosity_is_live_and_says_where(famfs_image: str, mounter) -> None:
    mp, proc = mounter.mount(famfs_image, "-f", "-v")
    assert proc.returncode == 0, proc.stderr
    assert f"daxdev={os.path.realpath(famfs_image)}, mpt={os.path.realpath(mp)}" in proc.stdout
    assert os.path.isfile(os.path.join(mp, SUPERBLOCK_FILE))


@pytest.mark.parametrize("meta", [SUPERBLOCK_FILE, LOG_FILE])
def test_flush_of_a_meta_file_works(mounted: str, cli, meta: str) -> None:
    proc = cli("flush", os.path.join(mounted, meta))
    assert proc.returncode == 0, proc.stderr


def test_flush_of_every_file_in_a_mount_works_and_of_directories_fails(mounted: str, famfs_image,
                                                                      cli) -> None:
    cli("creat", "-s", "4k", os.path.join(mounted, "f"), check=True)
    cli("mkdir", os.path.join(mounted, "d"), check=True)
    files = [os.path.join(root, name) for root, _, names in os.walk(mounted) for name in names]
    assert len(files) == 3
    assert cli("flush", *files).returncode == 0
    proc = cli("flush", "-vv", mounted, *files)
    assert proc.returncode == 1 and "errors were detected" in proc.stdout


def test_getmap_of_the_log_file_gives_its_place_on_the_device(mounted: str, cli) -> None:
    proc = cli("getmap", os.path.join(mounted, LOG_FILE))
    assert proc.returncode == 0, proc.stderr
    assert "\t\t200000\t8388608\n" in proc.stdout
    quiet = cli("getmap", "-q", os.path.join(mounted, LOG_FILE))
    assert (quiet.returncode, quiet.stdout) == (0, "")


@pytest.mark.parametrize("flag, meta, title", [("-s", SUPERBLOCK_FILE, "superblock by mmap"),
                                               ("-l", LOG_FILE, "log by mmap")])
def test_chkread_of_a_meta_file_matches_and_dumps_it(mounted: str, cli, flag: str, meta: str,
                                                     title: str) -> None:
    proc = cli("chkread", flag, os.path.join(mounted, meta))
    assert proc.returncode == 0, proc.stderr
    assert title in proc.stdout and "Read and mmap match" in proc.stdout


def test_chkread_of_a_missing_file_fails(mounted: str, cli) -> None:
    proc = cli("chkread", "-s", os.path.join(mounted, "badfilexx"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_mkmeta_of_a_mounted_device_says_where_the_meta_files_are(famfs_image: str,
                                                                  mounted: str, cli) -> None:
    proc = cli("mkmeta", famfs_image)
    assert proc.returncode == 0, proc.stderr
    assert os.path.join(mounted, LOG_FILE) in proc.stdout


@pytest.mark.parametrize("flags", [["-rc"], ["-m"], ["-vr"], ["-vvv"]])
def test_logplay_into_a_mount_takes_the_reference_flags(mounted: str, cli, flags) -> None:
    proc = cli("logplay", *flags, mounted)
    assert proc.returncode == 0, proc.stderr
    assert "log entries" in proc.stdout


def test_shadow_logplay_from_a_mount(mounted: str, cli, tmp_path) -> None:
    cli("creat", "-s", "4k", os.path.join(mounted, "f"), check=True)
    proc = cli("logplay", "-Ss", str(tmp_path / "sh"), mounted)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sh" / "root" / "f").is_file()


def test_a_second_mount_of_the_device_fails(famfs_image: str, mounted: str, mounter) -> None:
    _, proc = mounter.mount(famfs_image, "--fuse", "-vvv", check=False)
    assert proc.returncode != 0 and "already mounted" in proc.stderr


@pytest.fixture
def throwaway_user():
    """A real unprivileged user, removed afterwards: (uid, gid)."""
    import pwd
    import subprocess
    import uuid

    name = f"famfs-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_write_refused_by_file_modes_says_so(public_dir: str, famfs_image: str, mounter,
                                             throwaway_user) -> None:
    import subprocess
    import sys

    mp_dir = os.path.join(public_dir, "mp")
    os.mkdir(mp_dir)
    mp, _ = mounter.mount(famfs_image, mountpoint=mp_dir)
    subprocess.run([sys.executable, "-m", "famfs", "creat", "-m", "0644", "-s", "4k",
                    os.path.join(mp, "ro")], check=True, capture_output=True)
    uid, gid = throwaway_user
    code = ("import famfs\n"
            f"try:\n    famfs.open({os.path.join(mp, 'ro')!r}, 'r+b')\n"
            "except PermissionError as exc:\n    print(exc)\n")
    proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True)
    assert "permission denied" in proc.stdout, proc.stdout + proc.stderr
    assert "master" not in proc.stdout
