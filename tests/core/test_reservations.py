"""Reserving space for files not logged yet: held for the reserving process, seen by every
other allocator on the host, given back by commit, abort, discard or the holder's death."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from famfs.errors import ExistsError, NoSpaceError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    return image_path


def extents(node) -> list[tuple[int, int]]:
    return [(e.offset, e.length) for e in node.entry.fmap.all_extents()]


def test_a_reservation_logs_nothing_until_committed(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve([NewFile("a", 3 * MiB)])
        assert fs.log.header().next_index == 0 and fs.namespace.find("a") is None
        (node,) = reservation.commit()
        assert fs.log.header().next_index == 1 and fs.file("a").entry == node.entry


def test_reserved_space_is_not_handed_out_again_by_this_process(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        first = fs.reserve([NewFile("a", 4 * MiB)])
        second = fs.reserve([NewFile("b", 4 * MiB)])
        assert set(extents(first.files[0])).isdisjoint(extents(second.files[0]))
        first.commit()
        second.commit()
        assert not fs.collisions


def test_another_process_avoids_space_held_here(image: str, host_uuid: str) -> None:
    with Filesystem(image, writable=True) as fs:
        held = fs.reserve([NewFile("held", 8 * MiB)])
        code = ("import sys; from famfs.fs.filesystem import Filesystem\n"
                "with Filesystem(sys.argv[1], writable=True) as fs:\n"
                "    f = fs.create_file('other', 8 * 1024 * 1024)\n"
                "    print(f.entry.fmap.extents[0].offset)")
        out = subprocess.run([sys.executable, "-c", code, image], check=True,
                             capture_output=True, text=True).stdout
        (offset, length), = extents(held.files[0])
        assert not offset <= int(out) < offset + length
        held.commit()
        fs.refresh()
        assert not fs.collisions


@contextlib.contextmanager
def holder(image: str, reserving: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process that opens `image` writable, runs `reserving` (which leaves the offset of the
    space it holds in `held`), prints that offset and sleeps; killed on exit."""
    code = ("import sys, time; from famfs.fs.filesystem import Filesystem, NewFile\n"
            "fs = Filesystem(sys.argv[1], writable=True)\n"
            f"{reserving}\n"
            "print(held, flush=True)\n"
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, image], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def test_space_held_by_a_killed_process_is_free_again(image: str) -> None:
    reserving = ("r = fs.reserve([NewFile('doomed', 8 * 1024 * 1024)])\n"
                 "held = r.files[0].entry.fmap.extents[0].offset")
    with holder(image, reserving) as (proc, held_at), Filesystem(image, writable=True) as fs:
        assert fs.create_file("probe", 8 * MiB).entry.fmap.extents[0].offset != held_at
        proc.kill()
        proc.wait()
        assert fs.create_file("after", 8 * MiB).entry.fmap.extents[0].offset == held_at
        assert fs.namespace.find("doomed") is None


def test_an_aborted_reservation_frees_its_space_and_logs_nothing(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        with fs.reserve([NewFile("a", 4 * MiB)]) as reservation:
            where = extents(reservation.files[0])
        assert fs.log.header().next_index == 0
        assert extents(fs.create_file("b", 4 * MiB)) == where


def test_a_discarded_file_is_left_out_of_the_commit(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve([NewFile("keep", MiB), NewFile("drop", MiB)])
        reservation.discard(reservation.files[1])
        assert [n.relpath for n in reservation.commit()] == ["keep"]
        assert fs.namespace.find("drop") is None


def test_a_path_taken_meanwhile_is_reported_and_the_rest_logged(image: str) -> None:
    with Filesystem(image, writable=True) as fs, Filesystem(image, writable=True) as other:
        reservation = fs.reserve([NewFile("race", MiB), NewFile("free", MiB)])
        other.create_file("race", MiB)
        assert [n.relpath for n in reservation.commit()] == ["free"]
        ((node, error),) = reservation.errors
        assert node.relpath == "race" and isinstance(error, ExistsError)
        fs.refresh()
        assert not fs.collisions


def test_a_logged_file_of_the_same_size_is_reused_not_reserved(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        logged = fs.create_file("same", 3 * MiB)
        with fs.reserve([NewFile("same", 3 * MiB)]) as reservation:
            assert reservation.files[0] is logged and reservation.pending == []


def test_a_growing_file_takes_doubling_extents_and_is_trimmed_at_commit(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve_growing("grown", 0o640, 7, 8)
        (node,) = reservation.pending
        blocker = fs.create_file("blocker", MiB)  # the next AUs are not free: new extents
        for size in (1, 3 * MiB, 9 * MiB):
            fs.grow(reservation, node, size)
        lengths = [e.length for e in node.entry.fmap.extents]
        assert sum(lengths) >= 9 * MiB
        assert all(b >= 2 * a for a, b in zip(lengths, lengths[1:], strict=False))
        fs.grow(reservation, node, 5 * MiB + 1)
        (logged,) = reservation.commit()
        assert logged.size == 5 * MiB + 1
        assert sum(e.length for e in logged.entry.fmap.extents) == 6 * MiB
        assert (logged.mode, logged.uid, logged.gid) == (0o640, 7, 8)
        assert fs.holds.held() == []  # what the final size does not use is free again
        assert fs.allocator.used() == fs.data_start + 2 * MiB + 6 * MiB
        assert blocker.entry.fmap.extents[0].offset < logged.entry.fmap.extents[-1].offset
        assert not fs.collisions


def test_a_growing_file_extends_its_last_extent_when_it_can(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve_growing("seq")
        (node,) = reservation.pending
        for size in range(MiB, 40 * MiB, 3 * MiB):
            fs.grow(reservation, node, size)
        assert len(node.entry.fmap.extents) == 1
        reservation.commit()


def test_an_empty_growing_file_is_logged_with_one_allocation_unit(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        reservation = fs.reserve_growing("empty")
        (logged,) = reservation.commit()
        assert logged.size == 0 and [e.length for e in logged.entry.fmap.extents] == [2 * MiB]
    with Filesystem(image) as fs:
        assert fs.file("empty").size == 0


def test_exact_growth_takes_exactly_what_is_missing(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        fs.create_file("blocker", MiB)
        reservation = fs.reserve_growing("exact")
        (node,) = reservation.pending
        fs.grow(reservation, node, 7 * MiB, exact=True)
        assert sum(e.length for e in node.entry.fmap.extents) == 8 * MiB
        reservation.abort()
        assert fs.log.header().next_index == 1


def test_growth_past_sixteen_extents_is_refused(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        reservation = fs.reserve_growing("big")
        (node,) = reservation.pending
        with pytest.raises(NoSpaceError):
            fs.grow(reservation, node, 10 * 1024 * MiB)
        reservation.abort()


def test_a_growing_file_held_by_a_killed_process_logs_nothing(image: str) -> None:
    reserving = ("r = fs.reserve_growing('doomed')\n"
                 "fs.grow(r, r.pending[0], 8 * 1024 * 1024)\n"
                 "held = r.pending[0].entry.fmap.extents[0].offset")
    with holder(image, reserving) as (proc, held_at):
        proc.kill()
        proc.wait()
        with Filesystem(image, writable=True) as fs:
            assert fs.create_file("after", 8 * MiB).entry.fmap.extents[0].offset == held_at
            assert fs.namespace.find("doomed") is None
