"""The allocator: capacity, a full log, interleaved allocation rules."""

from __future__ import annotations

import hashlib
import random

import pytest

from famfs.alloc import Allocator, InterleaveParams, SpaceMap
from famfs.errors import LogFullError, NoSpaceError, UsageError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import GiB, MiB


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(16 * MiB)).hexdigest()


def test_a_1g_image_holds_exactly_507_files_of_1m(image_path: str) -> None:
    mkfs(image_path, size=GiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.create_files([NewFile(f"f{i}", MiB) for i in range(507)])
        before = _digest(image_path)
        with pytest.raises(NoSpaceError):
            fs.create_file("one-more", MiB)
        assert fs.log.header().next_index == 507
    assert _digest(image_path) == before
    report = fsck(image_path)
    assert report.ok and report.files == 507 and report.allocated == GiB


def test_a_batch_that_does_not_fit_logs_nothing(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        free_aus = fs.allocator.free() // (2 * MiB)
        before = _digest(image_path)
        with pytest.raises(NoSpaceError):
            fs.create_files([NewFile(f"f{i}", MiB) for i in range(free_aus + 1)])
        assert fs.log.header().next_index == 0
        fs.create_files([NewFile(f"f{i}", MiB) for i in range(free_aus)])
    assert before != _digest(image_path)


def test_contiguous_allocation_is_first_fit_and_rounds_up_to_aus(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        a = fs.create_file("a", 1)
        b = fs.create_file("b", 2 * MiB + 1)
    (ea,), (eb,) = a.entry.fmap.extents, b.entry.fmap.extents
    assert (ea.offset, ea.length) == (10 * MiB, 2 * MiB)
    assert (eb.offset, eb.length) == (12 * MiB, 4 * MiB)


def test_a_full_log_refuses_the_next_entry_and_changes_nothing(image_path: str) -> None:
    mkfs(image_path, size=32 * GiB)
    with Filesystem(image_path, writable=True) as fs:
        slots = fs.log.header().slots
        assert slots == 15420
        for start in range(0, slots, 5000):
            stop = min(start + 5000, slots)
            fs.create_files([NewFile(f"f{i}", 1) for i in range(start, stop)])
        assert fs.log.header().is_full()
        before = _digest(image_path)
        with pytest.raises(LogFullError, match="log full"):
            fs.create_file("extra", 1)
        with pytest.raises(LogFullError):
            fs.mkdir("extra-dir")
        assert fs.namespace.find("extra") is None
    assert _digest(image_path) == before
    report = fsck(image_path)
    assert report.ok and report.slots_free == 0


@pytest.mark.parametrize(("params", "message"), [
    (InterleaveParams(0, 1, 2 * MiB), "nbuckets"),
    (InterleaveParams(65, 1, 2 * MiB), "nbuckets"),
    (InterleaveParams(4, 5, 2 * MiB), "nstrips"),
    (InterleaveParams(32, 17, 2 * MiB), "nstrips"),
    (InterleaveParams(4, 0, 2 * MiB), "nstrips"),
    (InterleaveParams(4, 2, 3 * 2 * MiB), "chunk size"),
    (InterleaveParams(4, 2, MiB), "chunk size"),
    (InterleaveParams(16, 2, 2 * MiB), "bucket"),
])
def test_interleave_parameters_follow_the_reference_rules(params, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        params.check(8 * GiB, 2 * MiB)


def test_valid_interleave_parameters_pass() -> None:
    InterleaveParams(8, 8, 2 * MiB).check(8 * GiB, 2 * MiB)
    InterleaveParams(64, 16, 256 * MiB).check(64 * GiB, 2 * MiB)


def test_strips_land_in_distinct_buckets_with_the_reference_strip_size() -> None:
    alloc = Allocator(8 * GiB, 8 * MiB, 2 * MiB)
    params = InterleaveParams(8, 4, 4 * MiB)
    fmap = alloc.alloc_interleaved(40 * MiB, params, random.Random(1))
    il = fmap.interleave
    assert il is not None and il.nstrips == 4 and il.chunk_size == 4 * MiB
    bucket = 8 * GiB // 8
    assert len({s.offset // bucket for s in il.strips}) == 4
    # ceil(20 AUs / (4 strips * 2 AUs per chunk)) = 3 chunks per strip
    assert {s.length for s in il.strips} == {3 * 4 * MiB}
    assert fmap.capacity() >= 40 * MiB


def test_a_file_smaller_than_a_chunk_is_contiguous() -> None:
    alloc = Allocator(8 * GiB, 8 * MiB, 2 * MiB)
    fmap = alloc.alloc_interleaved(MiB, InterleaveParams(8, 4, 4 * MiB))
    assert fmap.interleave is None and len(fmap.extents) == 1


def test_a_failed_interleaved_allocation_frees_what_it_took() -> None:
    alloc = Allocator(4 * GiB, 8 * MiB, 2 * MiB)
    params = InterleaveParams(4, 4, 2 * MiB)
    used = alloc.used()
    with pytest.raises(NoSpaceError):
        alloc.alloc_interleaved(5 * GiB, params)
    assert alloc.used() == used


def test_marking_space_twice_reports_the_reused_range_as_a_collision() -> None:
    alloc = Allocator(GiB, 8 * MiB, 2 * MiB)
    fmap = alloc.alloc_contiguous(6 * MiB)
    assert alloc.mark(fmap, 6) == []
    (collision,) = alloc.mark(fmap, 7)
    assert (collision.entry_index, collision.offset, collision.length) == (
        7, fmap.extents[0].offset, 6 * MiB)


def test_allocation_takes_nothing_until_marked() -> None:
    alloc = Allocator(GiB, 8 * MiB, 2 * MiB)
    first = alloc.alloc_contiguous(6 * MiB)
    assert alloc.alloc_contiguous(6 * MiB) == first
    alloc.mark(first, 0)
    assert alloc.alloc_contiguous(6 * MiB).extents[0].offset == 16 * MiB


def test_allocation_avoids_space_taken_elsewhere() -> None:
    alloc = Allocator(GiB, 8 * MiB, 2 * MiB)
    taken = SpaceMap(alloc.maps[0].aus)
    taken.add(6, 9)
    assert alloc.alloc_contiguous(6 * MiB, taken={0: taken}).extents[0].offset == 18 * MiB
    assert alloc.alloc_contiguous(2 * MiB, taken={0: taken}).extents[0].offset == 10 * MiB


def test_a_device_claiming_64_tib_costs_no_memory_up_front() -> None:
    alloc = Allocator(GiB, 8 * MiB, 2 * MiB)
    for index in range(1, 64):
        alloc.add_device(index, 64 << 40)
    assert sum(len(m) for m in alloc.maps.values()) == 64  # one run each: its superblock
    assert alloc.capacity() == GiB + 63 * (64 << 40)


def test_space_map_coalesces_and_reports_overlaps() -> None:
    space = SpaceMap(100)
    for first, end in ((10, 20), (30, 40), (20, 30), (50, 60)):
        space.add(first, end)
    assert space.runs() == [(10, 40), (50, 60)]
    assert space.overlaps(35, 55) == [(35, 40), (50, 55)]
    assert space.used() == 40
