"""Committing several reservations in one append, and growing files that take their first
allocation unit when they are reserved."""

from __future__ import annotations

import pytest

from famfs.errors import ExistsError, LogFullError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import ALLOC_UNIT, MiB


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    return image_path


def test_several_reservations_are_logged_by_one_append(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservations = [fs.reserve_growing(f"f{i}") for i in range(5)]
        for i, r in enumerate(reservations):
            fs.grow(r, r.pending[0], (i + 1) * 1000)
        results = fs.commit_many(reservations)
        assert [[n.relpath for n in files] for files in results] == [[f"f{i}"] for i in range(5)]
        assert [fs.file(f"f{i}").size for i in range(5)] == [1000, 2000, 3000, 4000, 5000]
        assert fs.log.header().next_index == 5 and fs.holds.held() == []
        assert not fs.collisions


def test_a_file_of_the_batch_whose_name_was_taken_meanwhile_is_left_out_alone(image: str
                                                                              ) -> None:
    with Filesystem(image, writable=True) as fs, Filesystem(image, writable=True) as other:
        taken, free = fs.reserve_growing("taken"), fs.reserve_growing("free")
        other.create_file("taken", MiB)
        first, second = fs.commit_many([taken, free])
        assert first == [] and isinstance(taken.errors[0][1], ExistsError)
        assert [n.relpath for n in second] == ["free"]
        assert fs.holds.held() == []


def test_files_past_the_last_free_log_slot_are_left_out_with_log_full(image_path: str
                                                                      ) -> None:
    mkfs(image_path, size=32 * 1024 * MiB)  # sparse: room for a file in every log slot
    with Filesystem(image_path, writable=True) as fs:
        reservations = [fs.reserve_growing(f"f{i}") for i in range(3)]
        with Filesystem(image_path, writable=True) as other:  # another writer fills the log
            slots = other.log.header().slots
            other.create_files([NewFile(f"filler{i}", 4096) for i in range(slots - 2)])
        results = fs.commit_many(reservations)
        assert [len(files) for files in results] == [1, 1, 0]
        assert isinstance(reservations[2].errors[0][1], LogFullError)
        assert fs.holds.held() == []


def test_room_taken_at_reserve_time_is_one_held_extent_and_the_size_stays_zero(image: str
                                                                               ) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve_growing("small", room=ALLOC_UNIT)
        (node,) = reservation.pending
        assert node.size == 0 and [e.length for e in node.entry.fmap.extents] == [ALLOC_UNIT]
        assert [length for _, length in fs.holds.held()] == [ALLOC_UNIT]
        fs.grow(reservation, node, 100)
        assert [e.length for e in node.entry.fmap.extents] == [ALLOC_UNIT]  # no more taken
        (logged,) = reservation.commit()
        assert logged.size == 100 and fs.holds.held() == []
