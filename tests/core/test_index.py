"""The host-local index of a replayed log: used when it matches the device, and never believed
when the log, the device or the index file changed behind its back (refused, then rebuilt)."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_helpers import snapshot

from famfs.errors import CorruptError
from famfs.fs import index
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory, File
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import LOG_OFFSET, MiB, data_start
from famfs.omf.log import FileEntry, MkdirEntry, encode_entry, entry_offset

AU = 2 * MiB


@pytest.fixture(autouse=True)
def index_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Indexes on for every log size, in a directory of the test's own."""
    where = tmp_path / "index"
    monkeypatch.setenv("FAMFS_INDEX_DIR", str(where))
    monkeypatch.setenv("FAMFS_INDEX_MIN_ENTRIES", "1")
    monkeypatch.delenv("FAMFS_INDEX", raising=False)
    return where


def full_replay(path: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    with monkeypatch.context() as m:
        m.setenv("FAMFS_INDEX", "0")
        with Filesystem(path) as fs:
            assert fs.index_entries == 0
            return snapshot(fs)


def opened(path: str) -> tuple[int, dict[str, object]]:
    """(entries the index supplied, snapshot) of a fresh open."""
    with Filesystem(path) as fs:
        return fs.index_entries, snapshot(fs)


def make_tree(path: str, files: int = 120) -> None:
    mkfs(path, size=data_start(8 * MiB) + (files + 8) * AU)
    with Filesystem(path, writable=True) as fs:
        fs.mkdir("a/b", parents=True)
        fs.mkdir("c", mode=0o700, uid=5, gid=6)
        fs.create_files([NewFile(f"{('a/b', 'c', 'a')[i % 3]}/f{i}", 4096 + i, 0o640, i, i)
                         for i in range(files)])


def index_file(path: str) -> str:
    with Filesystem(path) as fs:
        return index.index_path(fs.device, fs.sb)


def write_entry(path: str, slot: int, payload: FileEntry | MkdirEntry) -> None:
    """Rewrite log slot `slot` behind every tool's back, with a valid CRC."""
    with open(path, "r+b") as fh:
        fh.seek(LOG_OFFSET + entry_offset(slot))
        fh.write(encode_entry(slot, payload))


def flip_byte(path: str, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([old[0] ^ 0x40]))


def test_an_index_is_written_private_and_used_by_the_next_open(image_path: str,
                                                               index_env: Path) -> None:
    make_tree(image_path)
    name = index_file(image_path)
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(index_env).st_mode) == 0o700
    used, seen = opened(image_path)
    with Filesystem(image_path) as fs:
        assert used == fs.log.header().next_index
    assert seen == full_replay(image_path, pytest.MonkeyPatch())


def test_entries_appended_after_the_index_are_replayed_on_top_of_it(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(image_path)
    with Filesystem(image_path) as fs:
        covered = fs.index_entries
    with monkeypatch.context() as m:
        m.setenv("FAMFS_INDEX", "0")  # this writer neither reads nor writes the index
        with Filesystem(image_path, writable=True) as fs:
            fs.mkdir("late")
            fs.create_file("late/x", 100)
            fs.create_file("a/b/y", 200)
    with Filesystem(image_path) as fs:
        assert fs.index_entries == covered
        assert fs.applied == covered + 3
        assert fs.file("late/x").size == 100
        assert snapshot(fs) == full_replay(image_path, monkeypatch)
    assert opened(image_path)[0] == covered + 3


@pytest.mark.parametrize("where", ["first entry path", "middle entry map", "last entry crc",
                                   "entry padding", "middle entry size"])
def test_a_flipped_byte_in_a_covered_entry_is_never_served(
        image_path: str, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    make_tree(image_path)
    with Filesystem(image_path) as fs:
        last = fs.log.header().next_index - 1
        assert fs.index_entries == last + 1
    slot, offset = {
        "first entry path": (0, 40), "middle entry map": (last // 2, 150),
        "last entry crc": (last, 536), "entry padding": (last // 3, 13),
        "middle entry size": (last // 2, 17),
    }[where]
    flip_byte(image_path, LOG_OFFSET + entry_offset(slot) + offset)
    with monkeypatch.context() as m:
        m.setenv("FAMFS_INDEX", "0")
        with pytest.raises(CorruptError) as full:
            Filesystem(image_path)
    with pytest.raises(CorruptError) as indexed:
        Filesystem(image_path)
    assert str(indexed.value) == str(full.value)
    assert f"log entry {slot}" in str(indexed.value)


def test_a_rewritten_entry_with_a_valid_crc_is_never_served(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(image_path)
    with Filesystem(image_path) as fs:
        slot = fs.log.header().next_index - 5
        old = fs.log.entry(slot).payload
        assert fs.index_entries > slot
    assert isinstance(old, FileEntry)
    write_entry(image_path, slot, FileEntry("renamed", old.size, old.fmap, 0o600, 7, 8))
    used, seen = opened(image_path)
    assert used == 0 or used <= slot
    assert seen == full_replay(image_path, monkeypatch)
    with Filesystem(image_path) as fs:
        assert fs.file("renamed").uid == 7
        assert fs.namespace.find(old.relpath) is None


def test_a_rewritten_entry_with_an_unchanged_crc_field_is_never_served(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes changed and the stored CRC kept: the sum of the entry bytes gives it away (and a
    full replay finds the CRC wrong)."""
    make_tree(image_path)
    with Filesystem(image_path) as fs:
        slot = fs.log.header().next_index // 2
    base = LOG_OFFSET + entry_offset(slot)
    with open(image_path, "r+b") as fh:
        fh.seek(base + 40)
        fh.write(b"zz")
    with pytest.raises(CorruptError, match=f"log entry {slot}: field crc"):
        Filesystem(image_path)


def test_a_new_mkfs_on_the_same_path_is_replayed_afresh(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(image_path)
    old_index = index_file(image_path)
    mkfs(image_path, force=True)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("other")
    used, seen = opened(image_path)
    assert seen == full_replay(image_path, monkeypatch)
    assert [n[1] for n in seen["nodes"]] == ["other"]  # type: ignore[index]
    assert index_file(image_path) != old_index


def test_a_superblock_rewritten_in_place_is_never_served(
        image_path: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Same UUID, same inode, other superblock bytes (here: another recorded device name):
    the index's copy of the superblock no longer matches."""
    make_tree(image_path)
    name = index_file(image_path)
    with open(image_path, "r+b") as fh:
        raw = bytearray(fh.read(200))
        raw[136:140] = b"zzzz"
        raw[96:104] = struct.pack("<Q", zlib.crc32(bytes(raw[:96])))
        fh.seek(0)
        fh.write(raw)
    before = os.stat(name).st_ino
    with Filesystem(image_path) as fs:
        assert fs.index_entries == 0
        assert fs.sb.device_name.startswith("zzzz")
    assert os.stat(name).st_ino != before  # rebuilt (written anew and renamed into place)
    assert opened(image_path)[1] == full_replay(image_path, monkeypatch)


def test_a_different_device_at_the_same_path_is_replayed_afresh(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the image (same UUID and superblock) with one entry changed, moved over
    the original: another inode, so the original's index is not used, even renamed to fit."""
    make_tree(image_path)
    original_index = index_file(image_path)
    copy = image_path + ".copy"
    shutil.copyfile(image_path, copy)
    try:
        with Filesystem(copy) as fs:
            slot = fs.log.header().next_index - 1
            old = fs.log.entry(slot).payload
        assert isinstance(old, FileEntry)
        write_entry(copy, slot, FileEntry("swapped", old.size, old.fmap))
        os.replace(copy, image_path)
        os.chmod(image_path, 0o600)
        name = index_file(image_path)
        shutil.copyfile(original_index, name)
        os.chmod(name, 0o600)
        used, seen = opened(image_path)
        assert used == 0
        assert seen == full_replay(image_path, monkeypatch)
        with Filesystem(image_path) as fs:
            assert fs.file("swapped").size == old.size
    finally:
        Path(copy).unlink(missing_ok=True)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "foreign owner",
                                    "open to others", "symlink"])
def test_a_damaged_or_untrusted_index_file_is_refused_and_rebuilt(
        image_path: str, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    make_tree(image_path)
    name = index_file(image_path)
    size = os.path.getsize(name)
    if damage == "truncated":
        os.truncate(name, size // 2)
    elif damage == "garbled":
        flip_byte(name, size // 3)
    elif damage == "empty":
        os.truncate(name, 0)
    elif damage == "foreign owner":
        os.chown(name, 65534, 65534)
    elif damage == "open to others":
        os.chmod(name, 0o644)
    else:
        target = name + ".real"
        os.replace(name, target)
        os.symlink(target, name)
    used, seen = opened(image_path)
    assert used == 0
    assert seen == full_replay(image_path, monkeypatch)
    assert not os.path.islink(name)
    assert opened(image_path)[0] > 0  # rebuilt, and believed again


def test_an_index_dir_of_another_user_is_not_written(image_path: str, index_env: Path) -> None:
    index_env.mkdir(mode=0o700)
    os.chown(index_env, 65534, 65534)
    make_tree(image_path, files=10)
    assert os.listdir(index_env) == []


def test_small_logs_are_not_indexed(image_path: str, monkeypatch: pytest.MonkeyPatch,
                                    index_env: Path) -> None:
    monkeypatch.setenv("FAMFS_INDEX_MIN_ENTRIES", "1000")
    make_tree(image_path, files=10)
    assert not index_env.exists() or os.listdir(index_env) == []


# --- a fresh index and a full replay always agree ---------------------------------------------

OPS = st.lists(st.tuples(st.sampled_from(["mkdir", "mkdir -p", "file", "raw file", "raw dup",
                                           "raw mkdir", "cross-link", "reopen"]),
                         st.integers(0, 5), st.integers(0, 5), st.integers(1, 3 * AU)),
               min_size=1, max_size=40)


def _apply_op(fs: Filesystem, op: str, a: int, b: int, size: int, n: int) -> None:
    names = ["d0", "d1", "d0/e", "d1/e", "f3", "d0/e/g"]
    parent = names[a]
    target = f"{parent}/n{b}"
    if op == "mkdir":
        try:
            fs.mkdir(target)
        except OSError:
            pass
    elif op == "mkdir -p":
        try:
            fs.mkdir(f"{parent}/p{b}/q", parents=True)
        except OSError:
            pass
    elif op == "file":
        try:
            fs.create_file(target, size, mode=0o600 + b, uid=a, gid=b)
        except OSError:
            pass
    else:
        # Entries no command would write: implicit parents, duplicates, directories over
        # files, space claimed twice.
        with fs.device.append_lock():
            fs.refresh()
            if op == "raw mkdir":
                payload: FileEntry | MkdirEntry = MkdirEntry(target, 0o711, a, b)
            else:
                if op == "cross-link" and fs.namespace.files:
                    victim = next(x for x in fs.namespace.walk() if isinstance(x, File))
                    fmap = victim.entry.fmap
                else:
                    off = data_start(fs.sb.log_len) + (40 + n % 60) * AU
                    fmap = FileMap.simple([SimpleExtent(0, off, AU)])
                path = names[b] if op == "raw dup" else f"x{a}/y{b}/z{n}"
                payload = FileEntry(path, min(size, AU), fmap, 0o644, a, b)
            fs.log.append([payload])
            fs.refresh()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, bulk=st.booleans())
def test_a_fresh_index_and_a_full_replay_always_agree(
        ops: list[tuple[str, int, int, int]], bulk: bool, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"/dev/shm/pyfamfs-index-prop-{os.getpid()}.img"
    monkeypatch.setenv("FAMFS_INDEX_DIR", str(tmp_path / f"ix{os.urandom(4).hex()}"))
    try:
        mkfs(path, size=data_start(8 * MiB) + 200 * AU, force=True)
        fs = Filesystem(path, writable=True)
        try:
            for n, (op, a, b, size) in enumerate(ops):
                if op == "reopen":
                    fs.close()
                    fs = Filesystem(path, writable=True)
                else:
                    _apply_op(fs, op, a, b, size, n)
            if bulk:
                # Many entries at once: the next open replays them in bulk on top of the index.
                fs.create_files([NewFile(f"bulk{i}", 10) for i in range(100)])
        finally:
            fs.close()
        used, seen = opened(path)
        assert used == seen["applied"]
        assert seen == full_replay(path, monkeypatch)
    finally:
        Path(path).unlink(missing_ok=True)


def test_only_the_most_recently_used_indexes_are_kept(tmp_path: Path, index_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    images = [str(tmp_path / f"img{i}") for i in range(4)]
    for path in images[:3]:
        mkfs(path, size=data_start(8 * MiB) + 4 * AU)
        with Filesystem(path, writable=True) as fs:
            fs.mkdir("d")
    for age, path in zip((300, 100, 200), images[:3], strict=True):
        then = (1_700_000_000 - age) * 10 ** 9
        os.utime(_index_name(path), ns=(then, then))
    monkeypatch.setattr(index, "KEEP_INDEXES", 2)
    mkfs(images[3], size=data_start(8 * MiB) + 4 * AU)
    with Filesystem(images[3], writable=True) as fs:
        fs.mkdir("d")
    assert sorted(os.listdir(index_env)) == sorted(
        os.path.basename(_index_name(p)) for p in (images[1], images[3]))


def _index_name(path: str) -> str:
    """The index file name of `path`, found without opening it as a filesystem (an open
    would mark the index used)."""
    from famfs.device import Device
    from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock
    with Device(path) as dev:
        return index.index_path(dev, Superblock.decode(dev.buf[:SUPERBLOCK_SIZE]))


def test_a_file_created_over_an_index_keeps_its_entry_after_close(image_path: str) -> None:
    make_tree(image_path)
    with Filesystem(image_path, writable=True) as fs:
        assert fs.index_entries > 0
        made = fs.create_file("a/b/late", 5000)
        found = fs.file("a/b/late")
    assert found is made
    assert made.entry.size == 5000 and made.entry.fmap.extents


def _listing(directory: Directory) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for name, node in directory.children.items():
        row: tuple[object, ...] = (name, type(node).__name__, node.relpath, node.mode, node.uid,
                                   node.gid, node.index)
        if isinstance(node, File):
            row += (node.size, node.flags)
        out.append(row)
    return out


def test_a_directory_counts_its_subdirectories_without_loading_its_children(
        image_path: str) -> None:
    make_tree(image_path)
    with Filesystem(image_path) as fs:
        assert fs.index_entries > 0
        a = fs.namespace.lookup("a")
        assert isinstance(a, Directory) and not a.loaded
        assert a.subdirs == 1
        assert not a.loaded
        assert fs.namespace.root.subdirs == 2
        assert sum(isinstance(c, Directory) for c in a.children.values()) == a.subdirs


def test_children_read_apart_from_the_lock_load_as_a_plain_load(image_path: str) -> None:
    make_tree(image_path)
    with Filesystem(image_path, writable=True) as fs:
        fs.create_file("a/b/late", 300)
    with Filesystem(image_path) as plain, Filesystem(image_path) as ahead:
        want = plain.namespace.lookup("a/b")
        got = ahead.namespace.lookup("a/b")
        assert isinstance(want, Directory) and isinstance(got, Directory)
        prepared = got.prepare()
        assert not got.loaded
        got.load(prepared)
        assert got.prepare() is None
        assert _listing(got) == _listing(want)
        assert [n for n in got.children] == [f"f{i}" for i in range(0, 120, 3)] + ["late"]


def test_file_heads_read_through_the_mapping_match_those_read_with_pread(
        image_path: str) -> None:
    make_tree(image_path, files=30)
    with Filesystem(image_path) as fs:
        files = [n for n in fs.namespace.walk() if isinstance(n, File)]
        indices = [f.index for f in files][::-1]
        read = fs.log.file_heads(indices)
        fs.device.is_dax = True  # DAX devices are read through the mapping
        mapped = fs.log.file_heads(indices)
        assert read == mapped
        by_index = {f.index: f for f in files}
        assert read.relpaths == [by_index[i].relpath for i in indices]
        assert read.sizes == [by_index[i].entry.size for i in indices]
        assert read.modes == [by_index[i].entry.mode for i in indices]
        assert fs.log.file_heads([]) == ([], [], [], [], [], [])


def test_an_index_written_a_few_bytes_at_a_time_is_whole_and_used(
        image_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index's tables go to its file straight from their arrays: a writer that takes
    only a few bytes per call still writes every byte, and the file passes its own CRC."""
    make_tree(image_path)
    os.unlink(index_file(image_path))
    real = os.writev

    def short_writev(fd: int, parts: list[memoryview]) -> int:
        return real(fd, [memoryview(bytes(parts[0]))[:997]])

    with monkeypatch.context() as m:
        m.setattr(index.os, "writev", short_writev)
        with Filesystem(image_path) as fs:
            assert fs.index_entries == 0
    raw = Path(index_file(image_path)).read_bytes()
    (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)
    assert zlib.crc32(raw[:-4]) == crc
    entries, state = opened(image_path)
    assert entries > 0 and state == full_replay(image_path, monkeypatch)
