"""Who may open a famfs file, and how, through `famfs.open(DEVICE:PATH)`: the file modes for
real users, the all-hosts-read-only flag on every host, and the host role for writes."""

from __future__ import annotations

import errno
import os

import pytest
from python_helpers import put, share_with

import famfs
from famfs.errors import AccessError, RoleError
from famfs.mapping.files import read_file
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RO, MiB
from famfs.omf.log import FileEntry


def log_with_flags(fs, relpath: str, flags: int) -> None:
    """Log `relpath` (1 MiB) with file flags `flags`, as another tool might have."""
    with fs.device.append_lock():
        fmap = fs.allocator.alloc_contiguous(MiB)
        fs.log.append([FileEntry(relpath, MiB, fmap, flags=flags)])


def test_a_read_only_for_all_hosts_file_is_refused_for_writing_on_the_master(fs):
    log_with_flags(fs, "ro", FILE_FLAG_ALL_HOSTS_RO)
    with pytest.raises(AccessError, match="read-only for all hosts") as caught:
        famfs.open(f"{fs.path}:ro", "r+b")
    assert caught.value.errno == errno.EROFS


def test_a_read_only_for_all_hosts_file_is_refused_for_writing_on_a_client(fs, as_client):
    log_with_flags(fs, "ro", FILE_FLAG_ALL_HOSTS_RO)
    as_client()
    with pytest.raises(AccessError, match="read-only for all hosts"):
        famfs.open(f"{fs.path}:ro", "r+b")
    with famfs.open(f"{fs.path}:ro") as f:
        assert f.size == MiB


def test_a_client_may_not_write_a_file_that_is_not_read_write_for_all_hosts(fs, as_client):
    log_with_flags(fs, "master-only", 0)
    with famfs.open(f"{fs.path}:master-only", "r+b"):
        pass
    as_client()
    with pytest.raises(RoleError, match="client"):
        famfs.open(f"{fs.path}:master-only", "r+b")


def test_a_client_writes_a_file_logged_read_write_for_all_hosts(fs, as_client):
    put(fs, "shared", bytes(4096))
    as_client()
    with famfs.open(f"{fs.path}:shared", "r+b") as f:
        f.write(b"from a client")
    assert read_file(fs, fs.file("shared"), 0, 13) == b"from a client"


@pytest.mark.parametrize("meta", [".meta/.log", ".meta/.superblock"])
def test_a_client_never_opens_the_log_or_superblock_for_writing(fs, as_client, meta):
    as_client()
    with pytest.raises(RoleError, match="only its master may write the superblock or the log"):
        famfs.open(f"{fs.path}:{meta}", "r+b")
    with famfs.open(f"{fs.path}:{meta}") as f:
        assert f.size > 0


def test_file_modes_deny_a_user_reading_anothers_private_file(image, fs, user):
    put(fs, "secret", b"s3cret" * 100, mode=0o600, uid=0, gid=0)
    share_with(image, user)
    with pytest.raises(AccessError, match="permission denied") as caught:
        user.run(lambda: famfs.open(f"{image}:secret").read())
    assert caught.value.errno == errno.EACCES


def test_a_write_refused_by_the_file_mode_says_so_not_the_host_role(image, fs, user):
    put(fs, "readable", b"r" * 100, mode=0o644, uid=0, gid=0)
    share_with(image, user)
    assert user.run(lambda: famfs.open(f"{image}:readable").read(1)) == b"r"
    with pytest.raises(AccessError, match="permission denied.*mode 0644") as caught:
        user.run(lambda: famfs.open(f"{image}:readable", "r+b"))
    assert not isinstance(caught.value, RoleError)


def test_the_owner_may_write_their_own_file(image, fs, user):
    put(fs, "mine", bytes(100), mode=0o600, uid=user.uid, gid=user.gid)
    share_with(image, user)

    def write() -> bytes:
        with famfs.open(f"{image}:mine", "r+b") as f:
            f.write(b"owned")
        return famfs.open(f"{image}:mine").read(5)

    assert user.run(write) == b"owned"


def test_a_private_directory_hides_whether_a_name_exists_in_it(image, fs, user):
    fs.mkdir("private", mode=0o700)
    put(fs, "private/there", b"x" * 10, mode=0o644)
    share_with(image, user)
    for name in ("private/there", "private/not-there"):
        with pytest.raises(AccessError, match="may not search directory private"):
            user.run(famfs.open, f"{image}:{name}")


def test_a_user_who_cannot_open_the_device_gets_an_access_error_naming_it(image, fs, user):
    put(fs, "f", b"x" * 10, mode=0o644)
    os.chmod(image, 0o600)
    with pytest.raises(AccessError, match=image):
        user.run(famfs.open, f"{image}:f")
