"""Bulk replay (entries decoded and checked as NumPy columns) against replay one entry at a
time: the same namespace, allocator and errors for any log, damaged or not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_helpers import snapshot

from famfs.alloc import InterleaveParams
from famfs.errors import CorruptError
from famfs.fs import filesystem
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import LOG_ENTRY_SIZE, LOG_OFFSET, MiB, data_start
from famfs.omf.log import AddDaxdevEntry, FileEntry, MkdirEntry, entry_offset

AU = 2 * MiB


@pytest.fixture(autouse=True)
def no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAMFS_INDEX", "0")


def build_log(path: str) -> int:
    """A log of every kind of entry, with conflicts and a cross-link; its entry count."""
    mkfs(path, size=data_start(8 * MiB) + 400 * AU, force=True)
    with Filesystem(path, writable=True) as fs:
        fs.mkdir("a/b", parents=True, mode=0o750, uid=3, gid=4)
        fs.create_files([NewFile(f"a/b/f{i}", 1000 + i, 0o600, i, i) for i in range(60)])
        fs.create_files([NewFile(f"il{i}", 8 * MiB,
                                 interleave=InterleaveParams(4, 2, AU)) for i in range(3)])
        fs.create_files([NewFile(f"a/g{i}", 3 * AU) for i in range(10)])
        with fs.device.append_lock():
            fs.refresh()
            victim = fs.file("a/b/f1").entry
            fs.log.append([
                FileEntry("x/y/implicit", 10, victim.fmap),            # cross-link, implicit
                FileEntry("a/b/f2", 10, victim.fmap),                  # duplicate path
                MkdirEntry("x/y", 0o711, 1, 2),                        # claims an implicit dir
                MkdirEntry("a/b/f3/sub", 0o755),                       # parent is a file
                AddDaxdevEntry(1, 64 * AU, bytes(range(16))),
                FileEntry("odd.name", 1, victim.fmap),                 # takes the slow path
            ])
        return fs.log.header().next_index


def replay(path: str, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(filesystem, "BULK_REPLAY", 1 if bulk else 10 ** 9)
        try:
            with Filesystem(path) as fs:
                return snapshot(fs)
        except CorruptError as exc:
            return ("error", str(exc), exc.index, exc.field)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    path = str(tmp_path_factory.mktemp("log") / "image")
    entries = build_log(path)
    with open(path, "rb") as fh:
        fh.seek(LOG_OFFSET)
        log = fh.read(entry_offset(entries))
    os.unlink(path)
    return log, entries


def write_image(path: str, log: bytes) -> None:
    mkfs(path, size=data_start(8 * MiB) + 400 * AU, force=True)
    with open(path, "r+b") as fh:
        fh.seek(LOG_OFFSET)
        fh.write(log)


def test_an_intact_log_replays_the_same_in_bulk(image_path: str, pristine: tuple[bytes, int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(image_path, pristine[0])
    bulk = replay(image_path, True, monkeypatch)
    assert isinstance(bulk, dict) and bulk["conflicts"] and bulk["collisions"]
    assert bulk == replay(image_path, False, monkeypatch)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, LOG_ENTRY_SIZE - 1),
                                 st.integers(1, 255), st.booleans()), min_size=1, max_size=3))
def test_a_damaged_log_replays_the_same_in_bulk(
        damage: list[tuple[int, int, int, bool]], pristine: tuple[bytes, int],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes changed anywhere in the entries, with the CRC fixed up or not: the bulk checks
    stop at the same entry with the same message, or build the same namespace."""
    import zlib
    log, entries = pristine
    raw = bytearray(log)
    for slot, offset, xor, fix_crc in damage:
        slot %= entries
        base = entry_offset(slot)
        raw[base + offset] ^= xor
        if fix_crc and offset < LOG_ENTRY_SIZE - 8:
            crc = zlib.crc32(bytes(raw[base:base + LOG_ENTRY_SIZE - 8]))
            raw[base + LOG_ENTRY_SIZE - 8:base + LOG_ENTRY_SIZE] = crc.to_bytes(8, "little")
    path = str(tmp_path / f"img{os.urandom(4).hex()}")
    write_image(path, bytes(raw))
    try:
        assert replay(path, True, monkeypatch) == replay(path, False, monkeypatch)
    finally:
        os.unlink(path)
