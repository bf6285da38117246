"""The writable namespace of a master's mount: ordinary tools make files and directories.

Every test runs real tools (GNU cp, tar, mkdir, Python, NumPy) against a real mount made with
the real CLI, and checks the result on the device: the log read back by a fresh Filesystem,
fsck, a remount, or a second host's mount of the same image (a hard link, with its own system
UUID). A file made through the mount is logged shortly after its last close (the kernel sends
RELEASE after close(2) returns, and the server logs released files in batches), so checks of
the log right after a close wait for it; `famfs umount` returns only once everything closed
is logged.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import subprocess
import tarfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from conftest import fill, wait_for
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory, File
from famfs.mapping.protocol import FMAP_XATTR
from famfs.mapping.wire import encode_get_fmap
from famfs.omf.fmap import ExtentType
from famfs.omf.layout import ALLOC_UNIT, FILE_FLAG_ALL_HOSTS_RW, MAX_SIMPLE_EXTENTS, MiB
from famfs.omf.log import FileEntry, MkdirEntry

pytestmark = pytest.mark.fuse

EDGE_SIZES = {"empty": 0, "one": 1, "au-minus-one": 2 * MiB - 1, "au-plus-one": 2 * MiB + 1,
              "big": 300 * MiB}


@pytest.fixture
def image(image_path: str) -> str:
    """A 2 GiB famfs image (sparse) made by this test's host, the master."""
    mkfs(image_path, size=2048 * MiB)
    return image_path


@pytest.fixture
def mp(image: str, mounter) -> str:
    return mounter.mount(image)[0]


def run(*argv: str, cwd: str | None = None, umask: int = 0o022) -> None:
    """Run a real tool with `umask`; AssertionError with its stderr if it fails."""
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(umask))
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"


def logged(image: str) -> dict[str, File | Directory]:
    """Every name in the log of `image`, replayed now by a fresh reader."""
    with Filesystem(image) as fs:
        return {node.relpath: node for node in fs.namespace.walk()}


def log_entries(image: str) -> int:
    with Filesystem(image) as fs:
        return fs.log.header().next_index


def wait_logged(image: str, *relpaths: str, timeout: float = 10.0) -> dict[str, File]:
    """Wait until every one of `relpaths` is a logged file; returns them."""
    def ready() -> bool:
        names = logged(image)
        return all(isinstance(names.get(p), File) for p in relpaths)
    assert wait_for(ready, timeout), f"not logged within {timeout} s: {relpaths}"
    names = logged(image)
    return {p: names[p] for p in relpaths}  # type: ignore[misc]


def fsck_clean(cli, where: str) -> None:
    """fsck of an image, or of the mount point it is mounted on, finds nothing wrong."""
    proc = cli("fsck", where)
    assert proc.returncode == 0 and "Problems" not in proc.stdout, proc.stdout + proc.stderr


def make_edge_tree(root: Path) -> dict[str, bytes]:
    """Files of the edge sizes, at the top and one level down; returns relpath -> bytes."""
    rng = np.random.default_rng(12)
    out = {}
    for sub in ("", "deeper/"):
        for name, size in EDGE_SIZES.items():
            if sub and name == "big":
                continue
            data = rng.bytes(size)
            path = root / f"{sub}{name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            out[f"{sub}{name}"] = data
    return out


def unmount_and_remount(cli, mounter, image: str, mp: str, *options: str) -> str:
    proc = cli("umount", mp)
    assert proc.returncode == 0, proc.stderr
    return mounter.mount(image, *options)[0]


# --- ordinary tools ----------------------------------------------------------------------

def test_cp_r_of_files_of_edge_sizes_then_diff_r_matches_and_logs_each_at_its_size(
        image, mounter, cli, tmp_path):
    src = tmp_path / "src"
    want = make_edge_tree(src)
    mp, _ = mounter.mount(image)
    run("cp", "-r", str(src), os.path.join(mp, "copy"))
    assert subprocess.run(["diff", "-r", str(src), os.path.join(mp, "copy")]).returncode == 0
    mp = unmount_and_remount(cli, mounter, image, mp)
    assert subprocess.run(["diff", "-r", str(src), os.path.join(mp, "copy")]).returncode == 0
    fsck_clean(cli, mp)
    names = logged(image)
    for rel, data in want.items():
        node = names[f"copy/{rel}"]
        assert isinstance(node, File) and node.size == len(data)
        fmap = node.entry.fmap
        assert fmap.ext_type == ExtentType.SIMPLE and len(fmap.extents) <= MAX_SIMPLE_EXTENTS
        au_count = sum(e.length for e in fmap.extents) // ALLOC_UNIT
        assert au_count == max(1, -(-len(data) // ALLOC_UNIT)), rel  # the rest was given back


def test_tar_x_extracts_every_file_with_its_mode_and_owner_also_after_remount(
        image, mounter, cli, tmp_path):
    src = tmp_path / "tree"
    layout = {"a.txt": (10, 0o640, 1234, 99), "sub/b.bin": (3 * MiB + 7, 0o600, 0, 0),
              "sub/deep/c": (0, 0o755, 4321, 4321)}
    rng = random.Random(3)
    for rel, (size, mode, uid, gid) in layout.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        os.chown(path, uid, gid)
        path.chmod(mode)
    archive = tmp_path / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(src, arcname="tree")
    mp, _ = mounter.mount(image)
    run("tar", "-xf", str(archive), cwd=mp)

    def check(where: str) -> None:
        assert subprocess.run(["diff", "-r", str(src), os.path.join(where, "tree")]) \
            .returncode == 0
        for rel, (_, mode, uid, gid) in layout.items():
            st = os.stat(os.path.join(where, "tree", rel))
            assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), rel

    check(mp)
    mp = unmount_and_remount(cli, mounter, image, mp)
    check(mp)
    fsck_clean(cli, mp)


def test_mkdir_p_logs_every_level_at_once(mp, image):
    before = log_entries(image)
    run("mkdir", "-p", os.path.join(mp, "l1/l2/l3/l4/l5/l6"))
    with Filesystem(image) as fs:
        entries = [e.payload for e in fs.log.entries(before, fs.log.header().next_index)]
    assert [(e.relpath, e.mode) for e in entries if isinstance(e, MkdirEntry)] == [
        ("/".join(f"l{i}" for i in range(1, depth + 1)), 0o755) for depth in range(1, 7)]
    assert os.path.isdir(os.path.join(mp, "l1/l2/l3/l4/l5/l6"))


def test_python_open_w_and_np_save_write_files_that_read_back_after_remount(
        image, mounter, cli):
    mp, _ = mounter.mount(image)
    with open(os.path.join(mp, "notes.txt"), "w") as fh:
        fh.write("line one\nline two\n")
    arr = np.arange(1_000_000, dtype=np.float64).reshape(1000, 1000)
    np.save(os.path.join(mp, "matrix.npy"), arr)
    assert np.array_equal(np.load(os.path.join(mp, "matrix.npy")), arr)
    mp = unmount_and_remount(cli, mounter, image, mp)
    with open(os.path.join(mp, "notes.txt")) as fh:
        assert fh.read() == "line one\nline two\n"
    assert np.array_equal(np.load(os.path.join(mp, "matrix.npy")), arr)
    assert logged(image)["matrix.npy"].size == os.path.getsize(os.path.join(mp, "matrix.npy"))


def test_remount_shows_each_file_with_the_mode_and_owner_it_was_made_or_set_with(
        image, mounter, cli):
    mp, _ = mounter.mount(image)
    old = os.umask(0o027)
    try:
        fd = os.open(os.path.join(mp, "masked"), os.O_CREAT | os.O_WRONLY, 0o666)
    finally:
        os.umask(old)
    os.write(fd, b"umask applied")
    os.close(fd)
    fd = os.open(os.path.join(mp, "given"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"chowned while open")
    os.fchown(fd, 1234, 99)
    os.fchmod(fd, 0o604)
    os.close(fd)
    mp = unmount_and_remount(cli, mounter, image, mp)
    for name, want, data in (("masked", (0o640, 0, 0), b"umask applied"),
                             ("given", (0o604, 1234, 99), b"chowned while open")):
        st = os.stat(os.path.join(mp, name))
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == want, name
        with open(os.path.join(mp, name), "rb") as fh:
            assert fh.read() == data
    fsck_clean(cli, mp)


def test_umount_returns_once_every_closed_file_is_logged(image, mounter, cli):
    mp, _ = mounter.mount(image)
    for i in range(200):
        with open(os.path.join(mp, f"f{i:03d}"), "wb") as fh:
            fh.write(i.to_bytes(4, "little"))
    proc = cli("umount", mp)
    assert proc.returncode == 0, proc.stderr
    names = logged(image)
    assert all(isinstance(names.get(f"f{i:03d}"), File) for i in range(200))


# --- other hosts, crashes --------------------------------------------------------------------

@pytest.fixture
def client(image, mounter):
    """(master mount point, client mount point): the client mounts a hard link of the image
    with another system UUID."""
    master_mp, _ = mounter.mount(image)
    link = image + ".client"
    os.link(image, link)
    try:
        client_mp, _ = mounter.mount(link, env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
        yield master_mp, client_mp
    finally:
        mounter.cleanup()
        os.unlink(link)


def test_a_second_host_sees_a_file_once_it_is_closed_and_not_before(client):
    master_mp, client_mp = client
    data = fill(7, 3 * MiB + 5)
    with open(os.path.join(master_mp, "shared.bin"), "wb") as fh:
        fh.write(data)
        fh.flush()
        assert os.path.getsize(os.path.join(master_mp, "shared.bin")) == len(data)
        time.sleep(1.0)  # the client's mount replays the log every 200 ms
        assert not os.path.exists(os.path.join(client_mp, "shared.bin"))
    path = os.path.join(client_mp, "shared.bin")
    assert wait_for(lambda: os.path.exists(path), 5.0)
    with open(path, "rb") as fh:
        assert fh.read() == data


def test_creating_through_a_client_mount_is_refused_with_eperm(client, image):
    _, client_mp = client
    before = log_entries(image)
    for make in (lambda p: open(p, "w"), os.mkdir, lambda p: os.mknod(p, 0o644 | stat.S_IFREG)):
        with pytest.raises(OSError) as exc:
            make(os.path.join(client_mp, "nope"))
        assert exc.value.errno == errno.EPERM
    assert log_entries(image) == before


def test_a_server_killed_in_the_middle_of_a_copy_leaves_fsck_clean_and_only_whole_files(
        image, mounter, cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(5)
    sources = {}
    for i in range(600):
        sources[f"f{i:03d}"] = data = rng.randbytes(rng.randrange(1, MiB))
        (src / f"f{i:03d}").write_bytes(data)
    mp, _ = mounter.mount(image)
    os.mkdir(os.path.join(mp, "copy"))
    # One file is half written and open when the server dies; cp is copying the others.
    fd = os.open(os.path.join(mp, "copy", "half"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, fill(1, 5 * MiB))
    copy = subprocess.Popen(["cp", "-r", f"{src}/.", os.path.join(mp, "copy")],
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: sum(1 for n in logged(image) if n.startswith("copy/f")) >= 5,
                        30.0)
        os.kill(mounter.server_pid(mp), signal.SIGKILL)
        copy.wait(30)
    finally:
        copy.kill()
        copy.wait()
        os.close(fd)
    assert cli("umount", mp).returncode == 0
    fsck_clean(cli, image)
    names = logged(image)
    copied = {rel: node for rel, node in names.items() if rel.startswith("copy/")}
    assert "copy/half" not in copied
    assert 5 <= len(copied) < len(sources)
    from famfs.mapping.files import read_file
    with Filesystem(image, writable=True) as fs:
        for rel in copied:
            node = fs.file(rel)
            assert read_file(fs, node, 0, node.size) == sources[rel.split("/")[1]], rel
        assert fs.holds.held() == []  # the dead server held the rest; nothing is held now
        in_files = sum(e.length for n in fs.namespace.walk() if isinstance(n, File)
                       for e in n.entry.fmap.extents)
        assert fs.allocator.used() == fs.data_start + in_files


# --- files not logged yet ---------------------------------------------------------------------

def test_a_new_file_may_be_renamed_resized_and_written_anywhere_and_is_logged_as_it_ends(
        mp, image):
    os.mkdir(os.path.join(mp, "there"))
    before = log_entries(image)
    fd = os.open(os.path.join(mp, "draft"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"abc")
    os.rename(os.path.join(mp, "draft"), os.path.join(mp, "there", "final"))
    os.ftruncate(fd, 10 * MiB)
    os.pwrite(fd, b"middle", 5 * MiB)
    os.ftruncate(fd, 6 * MiB)
    assert sorted(os.listdir(os.path.join(mp, "there"))) == ["final"]
    assert os.stat(os.path.join(mp, "there", "final")).st_size == 6 * MiB
    assert log_entries(image) == before  # nothing is logged while it is open
    os.close(fd)
    node = wait_logged(image, "there/final")["there/final"]
    assert log_entries(image) == before + 1 and "draft" not in logged(image)
    assert node.size == 6 * MiB
    with open(os.path.join(mp, "there", "final"), "rb") as fh:
        got = fh.read()
    want = bytearray(6 * MiB)
    want[:3] = b"abc"
    want[5 * MiB:5 * MiB + 6] = b"middle"
    assert got == bytes(want)


def test_a_new_file_unlinked_before_its_last_close_is_never_logged_and_frees_its_space(
        image, mounter, cli):
    mp, _ = mounter.mount(image)
    with Filesystem(image) as fs:
        free = fs.allocator.free()
    before = log_entries(image)
    fd = os.open(os.path.join(mp, "doomed"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, fill(2, 9 * MiB))
    os.unlink(os.path.join(mp, "doomed"))
    assert "doomed" not in os.listdir(mp)
    assert os.pread(fd, 8, 4 * MiB) == fill(2, 9 * MiB)[4 * MiB:4 * MiB + 8]  # still open
    os.close(fd)
    assert cli("umount", mp).returncode == 0
    with Filesystem(image, writable=True) as fs:
        assert fs.log.header().next_index == before and fs.allocator.free() == free
        assert fs.holds.held() == []


def test_bytes_of_a_new_file_never_written_read_as_zeros_over_space_given_back(mp, image):
    with Filesystem(image) as fs:
        first_free = fs.allocator.alloc_contiguous(ALLOC_UNIT).extents[0].offset
    fd = os.open(os.path.join(mp, "secret"), os.O_CREAT | os.O_RDWR, 0o600)
    os.write(fd, b"\xaa" * (4 * MiB))
    os.unlink(os.path.join(mp, "secret"))
    os.close(fd)  # its space is free again, still holding 0xaa
    with open(os.path.join(mp, "stretched"), "wb") as fh:
        fh.truncate(3 * MiB)
    with open(os.path.join(mp, "sparse"), "wb") as fh:
        fh.seek(3 * MiB)
        fh.write(b"end")
    nodes = wait_logged(image, "stretched", "sparse")
    offsets = {e.offset for n in nodes.values() for e in n.entry.fmap.extents}
    assert first_free in offsets  # the given-back space was reused
    with open(os.path.join(mp, "stretched"), "rb") as fh:
        assert fh.read() == bytes(3 * MiB)
    with open(os.path.join(mp, "sparse"), "rb") as fh:
        assert fh.read() == bytes(3 * MiB) + b"end"


def test_two_files_written_in_turns_grow_in_doubling_extents(mp, image):
    a = os.open(os.path.join(mp, "a"), os.O_CREAT | os.O_WRONLY, 0o644)
    b = os.open(os.path.join(mp, "b"), os.O_CREAT | os.O_WRONLY, 0o644)
    chunk = bytes(MiB)
    for _ in range(40):  # each new extent of one file is taken after the other's
        os.write(a, chunk)
        os.write(b, chunk)
    os.close(a)
    os.close(b)
    for node in wait_logged(image, "a", "b").values():
        lengths = [e.length for e in node.entry.fmap.extents]
        assert node.size == 40 * MiB and len(lengths) > 2
        assert all(nxt >= 2 * prev for prev, nxt in zip(lengths[:-2], lengths[1:-1],
                                                         strict=True))
        assert sum(lengths) == 40 * MiB  # the last one trimmed to the final size


def test_fallocate_reserves_exactly_and_sets_the_size(mp, image):
    fd = os.open(os.path.join(mp, "reserved"), os.O_CREAT | os.O_RDWR, 0o644)
    os.posix_fallocate(fd, 0, 7 * MiB + 5)
    assert os.fstat(fd).st_size == 7 * MiB + 5
    assert os.pread(fd, 7 * MiB + 5, 0) == bytes(7 * MiB + 5)
    os.close(fd)
    node = wait_logged(image, "reserved")["reserved"]
    assert node.size == 7 * MiB + 5
    assert [e.length for e in node.entry.fmap.extents] == [8 * MiB]


def test_the_map_of_a_new_file_is_handed_out_only_once_it_is_logged(mp, image):
    path = os.path.join(mp, "growing")
    with open(path, "wb") as fh:
        fh.write(b"x" * 100)
        fh.flush()
        assert FMAP_XATTR not in os.listxattr(path)
        with pytest.raises(OSError) as exc:
            os.getxattr(path, FMAP_XATTR)
        assert exc.value.errno == errno.ENODATA
    node = wait_logged(image, "growing")["growing"]
    assert wait_for(lambda: FMAP_XATTR in os.listxattr(path), 5.0)
    assert os.getxattr(path, FMAP_XATTR) == encode_get_fmap(node.entry)


def test_a_file_made_through_the_mount_is_logged_as_famfs_cp_logs_it(mp, image, cli,
                                                                      tmp_path):
    data = fill(9, 5 * MiB + 3)
    (tmp_path / "src").write_bytes(data)
    (tmp_path / "src").chmod(0o644)
    run("cp", str(tmp_path / "src"), os.path.join(mp, "by-mount"))
    assert cli("cp", str(tmp_path / "src"), f"{image}:by-cli").returncode == 0
    nodes = wait_logged(image, "by-mount", "by-cli")
    mine, theirs = nodes["by-mount"].entry, nodes["by-cli"].entry

    def shape(e: FileEntry) -> tuple[object, ...]:
        return (e.size, e.mode, e.uid, e.gid, e.flags, e.fmap.ext_type,
                [x.length for x in e.fmap.extents])

    assert shape(mine) == shape(theirs)
    assert mine.flags == FILE_FLAG_ALL_HOSTS_RW
    with open(os.path.join(mp, "by-cli"), "rb") as a, open(os.path.join(mp, "by-mount"),
                                                           "rb") as b:
        assert a.read() == b.read() == data


def test_mknod_of_a_regular_file_logs_it_empty_at_once_and_other_types_are_refused(mp,
                                                                                   image):
    os.mknod(os.path.join(mp, "node"), 0o640 | stat.S_IFREG)
    node = logged(image)["node"]
    assert isinstance(node, File) and node.size == 0 and node.mode == 0o640
    with pytest.raises(OSError) as exc:
        os.mknod(os.path.join(mp, "fifo"), 0o600 | stat.S_IFIFO)
    assert exc.value.errno == errno.EPERM


def test_a_path_longer_than_famfs_takes_is_enametoolong(mp):
    name = "n" * 80
    with pytest.raises(OSError) as exc:
        open(os.path.join(mp, name), "w")
    assert exc.value.errno == errno.ENAMETOOLONG
    with pytest.raises(OSError) as exc:
        os.mkdir(os.path.join(mp, name))
    assert exc.value.errno == errno.ENAMETOOLONG


def test_rename_of_a_new_file_replaces_a_new_file_but_never_a_logged_one(mp, image):
    with open(os.path.join(mp, "logged"), "wb") as fh:
        fh.write(b"logged")
    wait_logged(image, "logged")
    a = open(os.path.join(mp, "a"), "wb")
    b = open(os.path.join(mp, "b"), "wb")
    a.write(b"from a")
    a.flush()
    b.write(b"from b")
    b.flush()
    with pytest.raises(OSError) as exc:
        os.rename(os.path.join(mp, "a"), os.path.join(mp, "logged"))
    assert exc.value.errno == errno.EEXIST
    os.rename(os.path.join(mp, "a"), os.path.join(mp, "b"))
    a.close()
    b.close()
    node = wait_logged(image, "b")["b"]
    assert node.size == 6 and "a" not in logged(image)
    with open(os.path.join(mp, "b"), "rb") as fh:
        assert fh.read() == b"from a"
    with open(os.path.join(mp, "logged"), "rb") as fh:
        assert fh.read() == b"logged"


# --- files already logged -------------------------------------------------------------------

def test_no_logged_file_can_change_in_size_or_name_and_rewrites_stay_in_place(mp, image, cli):
    with open(os.path.join(mp, "made-here"), "wb") as fh:
        fh.write(fill(3, 3 * MiB))
    wait_logged(image, "made-here")
    assert cli("creat", "-s", "1m", os.path.join(mp, "made-by-cli")).returncode == 0
    os.mkdir(os.path.join(mp, "dir"))
    before = {name: logged(image)[name].entry for name in ("made-here", "made-by-cli")}
    for name, size in (("made-here", 3 * MiB), ("made-by-cli", MiB)):
        path = os.path.join(mp, name)
        attempts = {
            "truncate": (partial(os.truncate, path, 10), errno.EINVAL),
            "O_TRUNC": (partial(_open_truncating, path), errno.EINVAL),
            "write past the end": (partial(_pwrite, path, size), errno.ENOSPC),
            "fallocate past the end": (partial(_fallocate, path, size), errno.EFBIG),
            "unlink": (partial(os.unlink, path), errno.EPERM),
            "rename": (partial(os.rename, path, path + ".moved"), errno.EPERM),
        }
        for what, (attempt, code) in attempts.items():
            with pytest.raises(OSError) as exc:
                attempt()
            assert exc.value.errno == code, f"{name}: {what}"
        assert os.stat(path).st_size == size
        assert logged(image)[name].size == size
        with open(path, "r+b") as fh:  # reopened for writing: overwritten in place
            fh.write(b"in place")
        with open(path, "rb") as fh:
            assert fh.read(8) == b"in place" and len(fh.read()) == size - 8
        assert logged(image)[name].entry == before[name]
    with pytest.raises(OSError) as exc:
        os.rmdir(os.path.join(mp, "dir"))
    assert exc.value.errno == errno.EPERM
    with pytest.raises(OSError) as exc:
        os.rename(os.path.join(mp, "dir"), os.path.join(mp, "dir2"))
    assert exc.value.errno == errno.EPERM


def _open_truncating(path: str) -> None:
    open(path, "wb").close()


def _pwrite(path: str, offset: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"past", offset)
    finally:
        os.close(fd)


def _fallocate(path: str, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, size + 1)
    finally:
        os.close(fd)


# --- settings --------------------------------------------------------------------------------

def test_no_create_refuses_making_names_on_the_master_with_eperm(image, mounter):
    mp, _ = mounter.mount(image, "--no-create")
    before = log_entries(image)
    for make in (lambda p: open(p, "w"), os.mkdir):
        with pytest.raises(OSError) as exc:
            make(os.path.join(mp, "nope"))
        assert exc.value.errno == errno.EPERM
    assert log_entries(image) == before


def test_a_read_only_mount_refuses_making_names_with_erofs(image, mounter):
    mp, _ = mounter.mount(image, "-r")
    for make in (lambda p: open(p, "w"), os.mkdir):
        with pytest.raises(OSError) as exc:
            make(os.path.join(mp, "nope"))
        assert exc.value.errno == errno.EROFS


def test_writers_in_several_threads_each_get_their_file(mp, image):
    def writer(k: int) -> None:
        for i in range(20):
            with open(os.path.join(mp, f"t{k}-{i}"), "wb") as fh:
                fh.write(fill(k * 100 + i, 1000 + i))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = wait_logged(image, *(f"t{k}-{i}" for k in range(4) for i in range(20)))
    for k in range(4):
        for i in range(20):
            assert names[f"t{k}-{i}"].size == 1000 + i
            with open(os.path.join(mp, f"t{k}-{i}"), "rb") as fh:
                assert fh.read() == fill(k * 100 + i, 1000 + i)
