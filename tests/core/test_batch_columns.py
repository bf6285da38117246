"""A batch of files that all go on one device as one extent each is worked out as columns
(famfs.fs.filesystem.Placed): the same extents, holds, backing store, log entries and namespace
as when each file is placed by itself."""

from __future__ import annotations

import os

import pytest

from famfs.errors import ExistsError
from famfs.fs.filesystem import Filesystem, NewFile, Reservation
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import ALLOC_UNIT, MiB
from famfs.omf.log import entry_offset

SIZES = [4096, 3 * MiB, ALLOC_UNIT, 1, 5 * MiB + 7, 4096, 2 * ALLOC_UNIT + 1]


def _image(path: str) -> str:
    mkfs(path, size=512 * MiB)
    with Filesystem(path, writable=True) as fs:
        fs.mkdir("d")
        fs.create_files([NewFile("old0", 4096), NewFile("d/old1", 3 * MiB)])
    return path


def _specs(prefix: str = "d/n") -> list[NewFile]:
    return [NewFile(f"{prefix}{i}", size, 0o640, 7, 8) for i, size in enumerate(SIZES)]


def _log_bytes(fs: Filesystem) -> bytes:
    count = fs.log.header().next_index
    return fs.device.read(fs.log.base + entry_offset(0), count * (entry_offset(1) -
                                                                  entry_offset(0)))


def _data_pages(path: str) -> list[tuple[int, int]]:
    """(start, end) of every run of data (not holes) in the image file."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return out


def _per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every reservation place its files one by one (no columns)."""
    monkeypatch.setattr(Filesystem, "_one_device", lambda self, specs: None)


def _reserve_and_commit(path: str, batches: list[list[NewFile]]
                        ) -> tuple[list[list[tuple[int, int, int]]], list[bool]]:
    with Filesystem(path, writable=True) as fs:
        reservations = [fs.reserve(specs) for specs in batches]
        held = [r.held for r in reservations]
        columns = [r.placed is not None for r in reservations]
        fs.commit_many(reservations)
        assert fs.holds.held() == [] and not fs.collisions
    return held, columns


def _state(path: str) -> tuple[bytes, list[tuple[str, int, int]], dict[int, tuple[list, list]]]:
    with Filesystem(path) as fs:
        files = sorted((n.relpath, n.size, n.entry.fmap.extents[0].offset)
                       for n in fs.namespace.walk() if hasattr(n, "entry"))
        maps = {d: (m.starts, m.ends) for d, m in fs.allocator.maps.items()}
        return _log_bytes(fs), files, maps


def test_a_batch_as_columns_is_logged_as_files_placed_one_by_one(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    columns = _image(str(tmp_path / "columns.img"))
    single = _image(str(tmp_path / "single.img"))
    batches = [_specs("d/a"), _specs("b")]
    held_c, used_c = _reserve_and_commit(columns, batches)
    with monkeypatch.context() as m:
        _per_file(m)
        held_s, used_s = _reserve_and_commit(single, batches)
    assert used_c == [True, True] and used_s == [False, False]
    assert held_c == held_s
    assert _state(columns) == _state(single)
    assert _data_pages(columns)[1:] == _data_pages(single)[1:]  # after the superblock and log


def test_a_reserved_batch_holds_and_backs_what_files_placed_one_by_one_do(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    columns = _image(str(tmp_path / "columns.img"))
    single = _image(str(tmp_path / "single.img"))
    with Filesystem(columns, writable=True) as fs:
        r = fs.reserve(_specs())
        assert r.placed is not None
        held, pages = fs.holds.held(), _data_pages(columns)
        r.abort()
    with monkeypatch.context() as m:
        _per_file(m)
        with Filesystem(single, writable=True) as fs:
            r = fs.reserve(_specs())
            assert r.placed is None
            assert fs.holds.held() == held
            assert _data_pages(single)[1:] == pages[1:]
            r.abort()


def test_a_discarded_file_takes_the_batch_off_its_columns(image_path: str) -> None:
    _image(image_path)
    with Filesystem(image_path, writable=True) as fs:
        r = fs.reserve(_specs())
        r.discard(r.pending[1])
        assert r.placed is None
        logged = r.commit()
        assert [n.relpath for n in logged] == [s.relpath for i, s in enumerate(_specs())
                                               if i != 1]
        assert fs.holds.held() == [] and not fs.collisions
    with Filesystem(image_path) as fs:
        assert fs.namespace.find("d/n1") is None and fs.file("d/n2").size == ALLOC_UNIT
        assert not fs.collisions


def test_a_name_taken_meanwhile_leaves_the_rest_logged_in_place(image_path: str) -> None:
    _image(image_path)
    with Filesystem(image_path, writable=True) as fs, \
            Filesystem(image_path, writable=True) as other:
        first: Reservation = fs.reserve(_specs("d/a"))
        second = fs.reserve(_specs("d/b"))
        other.create_files([NewFile("d/a3", 1)])
        results = fs.commit_many([first, second])
        assert [n.relpath for n in results[0]] == [f"d/a{i}" for i in range(len(SIZES))
                                                   if i != 3]
        assert isinstance(first.errors[0][1], ExistsError)
        assert len(results[1]) == len(SIZES)
        assert fs.holds.held() == [] and not fs.collisions
        maps = {d: (m.starts, m.ends) for d, m in fs.allocator.maps.items()}
    with Filesystem(image_path) as fs:
        assert {d: (m.starts, m.ends) for d, m in fs.allocator.maps.items()} == maps
        assert not fs.collisions
