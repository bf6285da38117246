"""MapServer: GET_FMAP and GET_DAXDEV replies answered from a real filesystem's log."""

from __future__ import annotations

import os

import pytest
from mapping_helpers import INTERLEAVE, reference_resolve

from famfs.errors import NotFoundError
from famfs.fs.filesystem import Filesystem
from famfs.mapping import MappingError, map_file
from famfs.mapping.files import read_file, write_file
from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE
from famfs.mapping.server import MapServer
from famfs.mapping.wire import FileType, decode_get_daxdev, decode_get_fmap, decode_setup_reply
from famfs.omf.layout import MiB


def test_get_fmap_resolves_to_the_same_bytes_as_the_filesystem(fs):
    node = fs.create_file("data", 5 * MiB + 3)
    write_file(fs, node, 0, os.urandom(node.size))
    m = map_file(MapServer(fs).get_fmap("data"))
    assert m.size == node.size
    got = b"".join(bytes(fs.device.buf[x.addr:x.addr + x.length]) for x in m.spans())
    assert got == read_file(fs, node, 0, node.size)


def test_interleaved_file_map_follows_the_reference_address_math(fs):
    node = fs.create_file("striped", 20 * MiB, interleave=INTERLEAVE)
    m = map_file(MapServer(fs).get_fmap("striped"))
    for x in m.spans():
        assert (x.dev, x.addr) == reference_resolve(node.entry.fmap, x.offset)[:2]
        assert x.length == INTERLEAVE.chunk_size


def test_file_created_by_another_writer_is_found_after_a_replay(fs):
    server = MapServer(fs)
    with Filesystem(fs.path, writable=True) as other:
        other.create_file("late", MiB)
    assert map_file(server.get_fmap("late")).size == MiB


def test_missing_file_is_not_found(fs):
    with pytest.raises(NotFoundError):
        MapServer(fs).get_fmap("nope")


def test_metadata_files_map_the_superblock_and_the_log(fs):
    server = MapServer(fs)
    sb = decode_get_fmap(server.get_fmap(SUPERBLOCK_FILE))
    log = decode_get_fmap(server.get_fmap(LOG_FILE))
    assert (sb.file_type, sb.extents[0].offset, sb.file_size) == (FileType.SUPERBLOCK, 0, 2 * MiB)
    assert (log.file_type, log.extents[0].offset, log.file_size) == (
        FileType.LOG, fs.sb.log_offset, fs.sb.log_len)


def test_device_zero_is_named_by_its_absolute_path(fs):
    assert decode_get_daxdev(MapServer(fs).get_daxdev(0)).name == os.path.abspath(fs.path)


def test_unknown_device_index_is_an_error(fs):
    with pytest.raises(MappingError, match="device index 3"):
        MapServer(fs).get_daxdev(3)


def test_setup_reply_holds_the_map_and_its_devices(fs):
    fs.create_file("one", MiB)
    fmap, devs = decode_setup_reply(MapServer(fs).get_setup("one"))
    assert map_file(fmap).size == MiB
    assert [d.index for d in devs] == [0]
