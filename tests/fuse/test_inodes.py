"""The inode table of a mount: ids made once per path, and the garbage collector kept off the
objects that live as long as the mount."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from famfs.fs.namespace import File
from famfs.fuse.inodes import FREEZE_AFTER, InodeTable, Kind


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """A process with nothing frozen before the test, and nothing left frozen after it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _files(count: int) -> list[File]:
    return [File(f"d/f{i}", 0o644, 0, 0, i, size=4096) for i in range(count)]


def test_a_path_gets_one_inode_however_often_it_is_ensured():
    table = InodeTable()
    node = _files(1)[0]
    first = table.ensure(node.relpath, Kind.FILE, node)
    assert table.ensure(node.relpath, Kind.FILE, node) is first
    assert table.get(first.nodeid) is first and len(table) == 1


def test_lookups_one_by_one_freeze_the_objects_alive_once_enough_inodes_are_made(unfrozen):
    table = InodeTable(freeze_gc=True)
    nodes = _files(FREEZE_AFTER)
    for node in nodes[:-1]:
        table.ensure(node.relpath, Kind.FILE, node)
    assert gc.get_freeze_count() == 0
    table.ensure(nodes[-1].relpath, Kind.FILE, nodes[-1])
    assert gc.get_freeze_count() > 0


def test_a_table_that_does_not_own_its_process_never_freezes_it(unfrozen):
    table = InodeTable(freeze_gc=False)
    for node in _files(2 * FREEZE_AFTER):
        table.ensure(node.relpath, Kind.FILE, node)
    assert gc.get_freeze_count() == 0
