"""Listings read ahead: a directory listed to its end has its subdirectories' children loaded
in the background, exactly as their own listings would load them."""

from __future__ import annotations

import time

import pytest

from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory
from famfs.fuse.handlers import standard_handlers
from famfs.fuse.inodes import ROOT_ID
from famfs.fuse.ops import FamfsOperations, MountOptions
from famfs.fuse.wire import Opcode, ReadIn
from famfs.mapping.server import MapServer
from famfs.omf.layout import MiB, data_start

SUBDIRS = [f"d{i}" for i in range(4)]


@pytest.fixture
def tree(image_path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Four directories of 30 files each, opened through a host index."""
    monkeypatch.setenv("FAMFS_INDEX_MIN_ENTRIES", "1")
    mkfs(image_path, size=data_start(8 * MiB) + 130 * 2 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        for d in SUBDIRS:
            fs.mkdir(d)
        fs.create_files([NewFile(f"{SUBDIRS[i % 4]}/f{i}", 100 + i) for i in range(120)])
    return image_path


@pytest.fixture
def ops(tree: str):
    fs = Filesystem(tree)
    ops = FamfsOperations(fs, MountOptions(), MapServer(fs))
    yield ops
    ops.close()
    fs.close()


def list_root(ops: FamfsOperations, size: int) -> bytes:
    """One READDIRPLUS of the root from offset 0 asking for `size` bytes."""
    handlers = standard_handlers(ops)
    fh = ops.opendir(ROOT_ID)
    header = (0, Opcode.READDIRPLUS, 1, ROOT_ID, 0, 0, 0, 0, 0)
    body = ReadIn(fh, 0, size, 0, 0, 0).pack()
    return handlers[Opcode.READDIRPLUS].short(header, memoryview(body))  # type: ignore


def subdirectories(ops: FamfsOperations) -> list[Directory]:
    found = [ops.fs.namespace.root.children[d] for d in SUBDIRS]
    assert all(isinstance(d, Directory) for d in found)
    return found  # type: ignore[return-value]


def wait_loaded(directories: list[Directory], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(d.loaded for d in directories):
            return True
        time.sleep(0.01)
    return False


def test_a_directory_listed_to_its_end_has_its_subdirectories_loaded_ahead(ops):
    assert ops.fs.index_entries > 0
    dirs = subdirectories(ops)
    assert list_root(ops, 64 * 1024)
    assert wait_loaded(dirs)
    assert ops.readahead.loaded == len(SUBDIRS)
    assert sorted(dirs[0].children) == sorted(f"f{i}" for i in range(0, 120, 4))


def test_a_listing_cut_short_reads_nothing_ahead(ops):
    dirs = subdirectories(ops)
    assert list_root(ops, 400)  # room for two entries (. and ..), not the whole root
    time.sleep(0.2)
    assert not any(d.loaded for d in dirs)
    assert ops.readahead.loaded == 0


def test_listing_attributes_do_not_load_the_subdirectories(ops):
    """A directory's link count comes from the table of nodes, not from its children."""
    dirs = subdirectories(ops)
    ops.readahead.close()  # nothing loads in the background from here on
    list_root(ops, 64 * 1024)
    assert not any(d.loaded for d in dirs)
    assert ops.stat(ops.inodes.by_key("d0")).nlink == 2


def test_read_ahead_children_are_what_the_log_holds(ops, tree):
    list_root(ops, 64 * 1024)
    assert wait_loaded(subdirectories(ops))
    with Filesystem(tree) as fresh:
        for d in SUBDIRS:
            ahead = ops.fs.namespace.root.children[d].children
            plain = fresh.namespace.lookup(d).children
            assert [(n, c.relpath, c.size, c.mode, c.index) for n, c in ahead.items()] == \
                [(n, c.relpath, c.size, c.mode, c.index) for n, c in plain.items()]
