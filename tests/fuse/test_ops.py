"""Operations through a real famfs mount: data path, attributes, listings, refusals, xattrs."""

from __future__ import annotations

import errno
import mmap
import os
import stat

import pytest

from conftest import fill, populate
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file
from famfs.mapping.wire import FileType, decode_get_daxdev, encode_get_fmap, encode_meta_fmap
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse

FILES = {
    "small": (4096, 0o644, 0, 0),
    "odd": (3 * MiB + 123, 0o644, 0, 0),
    "d/inner": (10_000, 0o600, 0, 0),
}


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, FILES, {"d": (0o755, 0, 0)})
    return famfs_image


@pytest.fixture(params=["direct", "page"])
def mounted(request, image, mounter) -> str:
    mp, _ = mounter.mount(image, "--cache", request.param)
    return mp


@pytest.fixture
def mp(image, mounter) -> str:
    return mounter.mount(image)[0]


def device_bytes(image: str, relpath: str) -> bytes:
    with Filesystem(image) as fs:
        return read_file(fs, fs.file(relpath), 0, fs.file(relpath).size)


# --- data ---------------------------------------------------------------------------------

def test_reads_return_the_device_bytes_at_every_offset(mounted):
    want = fill(2, FILES["odd"][0])
    fd = os.open(os.path.join(mounted, "odd"), os.O_RDONLY)
    try:
        for offset, size in [(0, 1), (4095, 2), (2 * MiB - 7, 20), (0, 1 << 20),
                             (len(want) - 10, 100), (len(want), 10), (len(want) + 5, 10)]:
            assert os.pread(fd, size, offset) == want[offset:offset + size]
    finally:
        os.close(fd)


def test_a_one_mebibyte_read_is_answered_whole(mp):
    fd = os.open(os.path.join(mp, "odd"), os.O_RDONLY)
    try:
        assert os.pread(fd, 1 << 20, MiB) == fill(2, FILES["odd"][0])[MiB:2 * MiB]
    finally:
        os.close(fd)


def test_writes_land_on_the_device(mounted, image):
    path = os.path.join(mounted, "odd")
    with open(path, "r+b") as fh:
        fh.seek(2 * MiB - 3)
        fh.write(b"across the AU boundary")
    want = bytearray(fill(2, FILES["odd"][0]))
    want[2 * MiB - 3:2 * MiB - 3 + 22] = b"across the AU boundary"
    assert device_bytes(image, "odd") == bytes(want)
    with open(path, "rb") as fh:
        assert fh.read() == bytes(want)


def test_writes_are_clipped_to_the_file_size(mp, image):
    fd = os.open(os.path.join(mp, "small"), os.O_WRONLY)
    try:
        assert os.pwrite(fd, b"x" * 100, 4096 - 10) == 10
        with pytest.raises(OSError) as exc:
            os.pwrite(fd, b"y" * 10, 4096)
        assert exc.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert os.stat(os.path.join(mp, "small")).st_size == 4096
    assert device_bytes(image, "small") == fill(1, 4096)[:4086] + b"x" * 10


def test_mmap_of_a_file_through_the_mount_reads_and_writes_the_device(mounted, image):
    with open(os.path.join(mounted, "d/inner"), "r+b") as fh:
        with mmap.mmap(fh.fileno(), 0) as m:
            assert m[:] == fill(3, 10_000)
            m[100:105] = b"MMAP!"
            m.flush()
    assert device_bytes(image, "d/inner")[100:105] == b"MMAP!"


def test_fsync_succeeds(mp):
    fd = os.open(os.path.join(mp, "small"), os.O_RDWR)
    try:
        os.pwrite(fd, b"sync", 0)
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)


# --- attributes ---------------------------------------------------------------------------

def test_chmod_chown_and_utime_hold_for_the_mount_and_leave_the_device_alone(
        image, mounter, cli):
    mp, _ = mounter.mount(image)
    path = os.path.join(mp, "d/inner")
    os.chmod(path, 0o751)
    os.chown(path, 4242, 4343)
    os.utime(path, ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o751, 4242, 4343)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    assert stat.S_ISREG(st.st_mode)
    with Filesystem(image) as fs:
        node = fs.file("d/inner")
        assert (node.mode & 0o7777, node.uid, node.gid) == (0o600, 0, 0)
    assert cli("umount", mp).returncode == 0
    mp2, _ = mounter.mount(image)
    st = os.stat(os.path.join(mp2, "d/inner"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 0, 0)


def test_truncate_is_refused_with_einval_and_changes_nothing(mp, image):
    path = os.path.join(mp, "small")
    for size in (0, 100, 8192):
        with pytest.raises(OSError) as exc:
            os.truncate(path, size)
        assert exc.value.errno == errno.EINVAL
    os.truncate(path, 4096)  # the size it has: nothing to change
    with pytest.raises(OSError) as exc:
        open(path, "wb")  # O_TRUNC
    assert exc.value.errno == errno.EINVAL
    assert os.stat(path).st_size == 4096
    assert device_bytes(image, "small") == fill(1, 4096)


def test_statfs_reports_capacity_and_free_space_from_the_allocator(mp, image):
    sv = os.statvfs(mp)
    with Filesystem(image) as fs:
        capacity, free = fs.allocator.capacity(), fs.allocator.free()
    assert sv.f_frsize * sv.f_blocks == capacity
    assert sv.f_frsize * sv.f_bfree == free
    assert sv.f_frsize * sv.f_bavail == free


# --- namespace ----------------------------------------------------------------------------

def test_a_directory_too_big_for_one_readdir_is_listed_whole(image_path, mounter):
    names = [f"file-with-a-longish-name-{i:04d}" for i in range(150)]
    mkfs(image_path, size=512 * MiB)  # sparse: only the metadata is ever touched
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("many")
        fs.create_files([NewFile(f"many/{n}", 4096) for n in names])
    mp, _ = mounter.mount(image_path)
    assert sorted(os.listdir(os.path.join(mp, "many"))) == names
    with os.scandir(os.path.join(mp, "many")) as it:
        sizes = {e.name: e.stat().st_size for e in it}
    assert set(sizes.values()) == {4096} and len(sizes) == 150


def test_lookup_of_a_missing_name_is_enoent(mp):
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mp, "nope"))
    with pytest.raises(NotADirectoryError):
        os.stat(os.path.join(mp, "small/x"))


def test_a_file_created_by_the_cli_on_the_master_appears_at_once(mp, image, cli):
    assert "later" not in os.listdir(mp)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mp, "later"))
    assert cli("creat", "-s", "8192", f"{image}:later").returncode == 0
    assert cli("mkdir", f"{image}:newdir").returncode == 0
    assert os.stat(os.path.join(mp, "later")).st_size == 8192
    assert {"later", "newdir"} <= set(os.listdir(mp))


def test_directories_report_their_link_count(mp):
    assert os.stat(mp).st_nlink == 2 + 2  # .meta and d
    assert os.stat(os.path.join(mp, "d")).st_nlink == 2


# --- refused by design --------------------------------------------------------------------

@pytest.fixture
def mp_no_create(image, mounter) -> str:
    return mounter.mount(image, "--no-create")[0]


@pytest.mark.parametrize("operation", [
    "create", "create_excl", "mknod", "mkdir", "unlink", "rmdir", "rename", "rename_over",
    "link", "symlink"])
def test_namespace_changes_are_refused_and_change_nothing_with_no_create(mp_no_create, image,
                                                                          operation):
    mp = mp_no_create
    p = lambda name: os.path.join(mp, name)  # noqa: E731
    before = sorted(os.listdir(mp)), sorted(os.listdir(p("d")))
    actions = {
        "create": lambda: open(p("new"), "w"),
        "create_excl": lambda: os.open(p("new"), os.O_CREAT | os.O_EXCL | os.O_WRONLY),
        "mknod": lambda: os.mknod(p("fifo"), 0o600 | stat.S_IFIFO),
        "mkdir": lambda: os.mkdir(p("newdir")),
        "unlink": lambda: os.unlink(p("small")),
        "rmdir": lambda: os.rmdir(p("d")),
        "rename": lambda: os.rename(p("small"), p("renamed")),
        "rename_over": lambda: os.rename(p("small"), p("odd")),
        "link": lambda: os.link(p("small"), p("hard")),
        "symlink": lambda: os.symlink("small", p("sym")),
    }
    with pytest.raises(OSError) as exc:
        actions[operation]()
    assert exc.value.errno in (errno.EPERM, errno.ENOTSUP)
    assert (sorted(os.listdir(mp)), sorted(os.listdir(p("d")))) == before
    with Filesystem(image) as fs:
        assert fs.log.header().next_index == 4
    assert device_bytes(image, "small") == fill(1, 4096)


def test_setting_an_extended_attribute_is_refused(mp):
    with pytest.raises(OSError) as exc:
        os.setxattr(os.path.join(mp, "small"), "user.test", b"1")
    assert exc.value.errno == errno.ENOTSUP


def test_meta_superblock_cannot_be_opened_for_writing(mp):
    with pytest.raises(PermissionError):
        open(os.path.join(mp, ".meta/.superblock"), "r+b")


# --- extended attributes ------------------------------------------------------------------

def test_fmap_xattr_is_the_get_fmap_reply_of_each_file(mp, image):
    with Filesystem(image) as fs:
        for path in FILES:
            assert os.getxattr(os.path.join(mp, path), "user.famfs.fmap") == \
                encode_get_fmap(fs.file(path).entry)
        sb = fs.sb
    assert os.getxattr(os.path.join(mp, ".meta/.log"), "user.famfs.fmap") == \
        encode_meta_fmap(FileType.LOG, sb.log_offset, sb.log_len, sb.log_len)
    assert os.listxattr(os.path.join(mp, "small")) == ["user.famfs.fmap"]
    with pytest.raises(OSError) as exc:
        os.getxattr(os.path.join(mp, "d"), "user.famfs.fmap")
    assert exc.value.errno == errno.ENODATA


def test_daxdev_xattr_on_the_root_names_the_device(mp, image):
    reply = decode_get_daxdev(os.getxattr(mp, "user.famfs.daxdev.0"))
    assert (reply.index, reply.name) == (0, os.path.abspath(image))
    assert "user.famfs.daxdev.0" in os.listxattr(mp)
    with pytest.raises(OSError) as exc:
        os.getxattr(mp, "user.famfs.daxdev.5")
    assert exc.value.errno == errno.ENODATA


def test_logplay_xattr_replays_and_counts_what_is_new(mp, image):
    assert os.getxattr(mp, "user.famfs.logplay") == b"0 0 0"
    with Filesystem(image, writable=True) as fs:
        fs.mkdir("x/y", parents=True)
        fs.create_file("x/y/z", 4096)
    assert os.getxattr(mp, "user.famfs.logplay") == b"3 1 2"
    assert os.getxattr(mp, "user.famfs.logplay") == b"0 0 0"
    assert os.path.exists(os.path.join(mp, "x/y/z"))


def test_private_mmap_is_copy_on_write_and_leaves_the_device_alone(mounted, image):
    with open(os.path.join(mounted, "odd"), "rb") as fh:
        with mmap.mmap(fh.fileno(), 4 * 4096, flags=mmap.MAP_PRIVATE,
                       prot=mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[0:7] = b"PRIVATE"
            assert m[0:7] == b"PRIVATE"
    assert device_bytes(image, "odd")[:7] == fill(2, 7)
    with open(os.path.join(mounted, "odd"), "rb") as fh:
        assert fh.read(7) == fill(2, 7)
