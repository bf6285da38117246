"""Who may do what through a mount: a real unprivileged user runs real commands against it.

The mount uses default_permissions, so the kernel checks every lookup, open and attribute read
against the modes the mount reports. These tests prove what that covers and what the server adds:
the log and the logplay attribute are for root and the mount's owner only, a file marked read-only
on all hosts is read-only on every mount, and a client never writes `.meta`.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import populate
from famfs.fs.filesystem import Filesystem
from famfs.mapping.protocol import FMAP_XATTR, LOGPLAY_XATTR, daxdev_xattr
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RO, MiB
from famfs.omf.log import FileEntry

PYTHON = "/usr/bin/python3"
"""The system interpreter: the throw-away user runs only the standard library."""

FILES = {
    "open.txt": (4096, 0o644, 0, 0),
    "secret.bin": (8192, 0o600, 0, 0),
    "private/hidden.bin": (4096, 0o644, 0, 0),
    "shared-rw": (4096, 0o666, 0, 0),
}
DIRS = {"private": (0o700, 0, 0)}


@dataclass(frozen=True)
class Stranger:
    """A throw-away local user with no rights on anything famfs made."""

    name: str
    uid: int

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", self.name, "--", *cmd], capture_output=True,
                              text=True, cwd="/")

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run `code` as this user; it prints its result."""
        return self.run(PYTHON, "-c", code)

    def errno_of(self, code: str) -> str:
        """Run `code` (one statement that may raise OSError) and return 'ok' or the errno
        name it raised."""
        wrapped = ("import errno, os\n"
                   f"try:\n    {code}\n    print('ok')\n"
                   "except OSError as e:\n    print(errno.errorcode[e.errno])\n")
        proc = self.python(wrapped)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()


@pytest.fixture
def stranger(need_fuse: None) -> Iterator[Stranger]:
    """A new local user (no home, no login shell), removed in teardown."""
    if shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("useradd and runuser are needed")
    name = f"famfs-t{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    try:
        yield Stranger(name, int(subprocess.run(["id", "-u", name], check=True,
                                                capture_output=True, text=True).stdout))
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, FILES, DIRS)
    return famfs_image


def reachable_mount(mounter, device: str, where: str, env: dict[str, str] | None = None
                    ) -> str:
    mp = os.path.join(where, f"mnt-{uuid.uuid4().hex[:8]}")
    os.mkdir(mp)
    mounter.mount(device, mountpoint=mp, env=env)
    return mp


@pytest.fixture
def mp(image, mounter, public_dir) -> str:
    """The image mounted by root (the master) where the stranger can reach it."""
    return reachable_mount(mounter, image, public_dir)


def client_env() -> dict[str, str]:
    return {"FAMFS_SYSTEM_UUID": str(uuid.uuid4())}


# --- the log and the logplay attribute ------------------------------------------------------

def test_log_cannot_be_read_by_another_user(mp, stranger):
    log = os.path.join(mp, ".meta/.log")
    proc = stranger.run("cat", log)
    assert proc.returncode != 0 and "Permission denied" in proc.stderr
    assert proc.stdout == ""
    with open(log, "rb") as fh:  # root (the mount's owner) reads it
        assert len(fh.read(4096)) == 4096


def test_log_cannot_be_read_by_another_user_on_a_client_mount(image, mounter, public_dir,
                                                             stranger):
    mp = reachable_mount(mounter, image, public_dir, env=client_env())
    assert stranger.errno_of(f"open({os.path.join(mp, '.meta/.log')!r}, 'rb')") == "EACCES"


def test_log_attributes_are_not_readable_by_another_user(mp, stranger):
    log = os.path.join(mp, ".meta/.log")
    assert stranger.errno_of(f"os.getxattr({log!r}, {FMAP_XATTR!r})") == "EACCES"


def test_logplay_attribute_is_refused_to_another_user(mp, stranger):
    assert stranger.errno_of(f"os.getxattr({mp!r}, {LOGPLAY_XATTR!r})") == "EACCES"
    assert os.getxattr(mp, LOGPLAY_XATTR)  # root replays


def test_logplay_attribute_is_refused_to_another_user_on_a_client(image, mounter, public_dir,
                                                                 stranger):
    mp = reachable_mount(mounter, image, public_dir, env=client_env())
    assert stranger.errno_of(f"os.getxattr({mp!r}, {LOGPLAY_XATTR!r})") == "EACCES"


# --- files and directories the modes deny -----------------------------------------------------

def test_unreadable_file_bytes_and_map_are_refused(mp, stranger):
    secret = os.path.join(mp, "secret.bin")
    assert stranger.errno_of(f"open({secret!r}, 'rb')") == "EACCES"
    assert stranger.errno_of(f"os.getxattr({secret!r}, {FMAP_XATTR!r})") == "EACCES"
    readable = os.path.join(mp, "open.txt")
    assert stranger.errno_of(f"os.getxattr({readable!r}, {FMAP_XATTR!r})") == "ok"


def test_private_directory_hides_names_sizes_and_owners(mp, stranger):
    private = os.path.join(mp, "private")
    proc = stranger.run("ls", "-l", private)
    assert proc.returncode != 0 and "hidden.bin" not in proc.stdout
    hidden = os.path.join(private, "hidden.bin")
    for call in (f"os.stat({hidden!r})", f"open({hidden!r}, 'rb')",
                 f"os.getxattr({hidden!r}, {FMAP_XATTR!r})", f"os.listxattr({hidden!r})",
                 f"os.listdir({private!r})"):
        assert stranger.errno_of(call) == "EACCES", call


def test_attribute_names_say_nothing_about_a_file(mp, stranger):
    names = {stranger.python(f"import os; print(sorted(os.listxattr({os.path.join(mp, f)!r})))"
                             ).stdout.strip() for f in ("open.txt", "secret.bin")}
    assert names == {str([FMAP_XATTR])}


def test_another_user_sees_only_filesystem_totals(mp, stranger):
    proc = stranger.python(f"import os; s = os.statvfs({mp!r}); "
                           f"print(s.f_blocks, s.f_files, s.f_bsize)")
    assert proc.returncode == 0, proc.stderr
    mine = os.statvfs(mp)
    assert proc.stdout.split() == [str(mine.f_blocks), str(mine.f_files), str(mine.f_bsize)]


def test_device_attribute_names_the_device_only(mp, stranger, image):
    proc = stranger.python(f"import os; print(os.getxattr({mp!r}, {daxdev_xattr(0)!r}))")
    assert proc.returncode == 0, proc.stderr
    assert os.path.abspath(image) in proc.stdout
    for name in FILES:
        assert name.rsplit("/", 1)[-1] not in proc.stdout


def test_another_user_cannot_write_a_file_the_mode_denies(mp, stranger):
    assert stranger.errno_of(f"open({os.path.join(mp, 'open.txt')!r}, 'r+b')") == "EACCES"
    assert stranger.errno_of(f"open({os.path.join(mp, 'shared-rw')!r}, 'r+b')") == "ok"


# --- read-only on all hosts -----------------------------------------------------------------

def log_read_only_file(image: str, relpath: str, mode: int = 0o666) -> bytes:
    """Log a file flagged read-only on all hosts, filled with known bytes (as another tool
    would write it: the flag is on the media, the API makes read-write files only)."""
    data = bytes(range(256)) * (MiB // 256)
    with Filesystem(image, writable=True) as fs:
        with fs.device.append_lock():
            fs.refresh()
            fmap = fs.allocator.alloc_contiguous(len(data))
            done = 0
            for ext in fmap.all_extents():
                n = min(ext.length, len(data) - done)
                fs.device.pwrite(ext.offset, data[done:done + n])
                done += n
            fs.device.flush()
            fs.log.append([FileEntry(relpath, len(data), fmap, mode, 0, 0,
                                     FILE_FLAG_ALL_HOSTS_RO)])
    return data


@pytest.mark.parametrize("host", ["master", "client"])
def test_read_only_everywhere_file_refuses_writes_on_every_host(image, mounter, public_dir,
                                                               stranger, host):
    data = log_read_only_file(image, "frozen")
    mp = reachable_mount(mounter, image, public_dir,
                         env=client_env() if host == "client" else None)
    path = os.path.join(mp, "frozen")
    assert os.stat(path).st_mode & 0o222 == 0
    with pytest.raises(OSError) as exc:
        open(path, "r+b")
    assert exc.value.errno == errno.EROFS
    assert stranger.errno_of(f"open({path!r}, 'r+b')") == "EACCES"
    proc = subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4096", "count=1",
                           "conv=notrunc"], capture_output=True, text=True)
    assert proc.returncode != 0
    with open(path, "rb") as fh:
        assert fh.read() == data
    os.chmod(path, 0o666)  # a mode change in memory does not make it writable
    assert os.stat(path).st_mode & 0o222 == 0
    with pytest.raises(OSError) as exc:
        open(path, "wb")
    assert exc.value.errno in (errno.EROFS, errno.EINVAL)


# --- .meta on a client ----------------------------------------------------------------------

@pytest.mark.parametrize("name", [".log", ".superblock"])
def test_client_never_opens_meta_files_for_writing(image, mounter, public_dir, name):
    mp = reachable_mount(mounter, image, public_dir, env=client_env())
    path = os.path.join(mp, ".meta", name)
    for flags in (os.O_RDWR, os.O_WRONLY):
        with pytest.raises(OSError) as exc:
            os.open(path, flags)
        assert exc.value.errno in (errno.EPERM, errno.EACCES)
    with Filesystem(image) as fs:
        before = fs.device.read(0, 2 * MiB) + fs.device.read(fs.sb.log_offset, fs.sb.log_len)
    proc = subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4096", "count=1",
                           "conv=notrunc"], capture_output=True, text=True)
    assert proc.returncode != 0
    with Filesystem(image) as fs:
        after = fs.device.read(0, 2 * MiB) + fs.device.read(fs.sb.log_offset, fs.sb.log_len)
    assert after == before


def test_master_never_opens_the_superblock_for_writing(mp):
    with pytest.raises(OSError) as exc:
        os.open(os.path.join(mp, ".meta/.superblock"), os.O_RDWR)
    assert exc.value.errno in (errno.EPERM, errno.EACCES)
