"""The client connection: map cache, device table, sticky errors and round-trip counts."""

from __future__ import annotations

import threading

import pytest
from mapping_helpers import AU, BlobTransport, simple_blob

from famfs.mapping import MappingError
from famfs.mapping.client import NO_CACHE, PULL, PUSH, SETUP, Connection
from famfs.mapping.iomap import EHWPOISON
from famfs.mapping.server import MapServer
from famfs.mapping.transport import InProcessTransport
from famfs.omf.layout import MiB


@pytest.fixture
def served(fs):
    fs.create_file("a", 3 * MiB)
    fs.create_file("b", MiB)
    return InProcessTransport(MapServer(fs))


def test_first_open_costs_one_map_and_one_device_request(served):
    conn = Connection(served, PULL)
    conn.open("a")
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (1, 1)


def test_later_opens_and_resolutions_cost_nothing(served):
    conn = Connection(served, PULL)
    inode = conn.open("a")
    for _ in range(3):
        conn.open("a")
    for pos in range(0, 3 * MiB, 4096):
        conn.resolve(inode, pos)
    assert conn.round_trips.total == 2


def test_a_known_device_is_not_requested_again(served):
    conn = Connection(served, PULL)
    conn.open("a")
    conn.open("b")
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (2, 1)


def test_push_mode_fills_the_device_table_before_any_open(served):
    conn = Connection(served, PUSH)
    assert conn.devices[0] is not None and conn.round_trips.daxdev == 1
    conn.open("a")
    conn.open("b")
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (2, 1)


def test_setup_mode_opens_with_one_combined_request(served):
    conn = Connection(served, SETUP)
    conn.open("a")
    assert (conn.round_trips.setup, conn.round_trips.total) == (1, 1)
    assert conn.devices[0] is not None


def test_no_cache_mode_fetches_the_map_for_every_resolution(served):
    conn = Connection(served, NO_CACHE)
    inode = conn.open("a")
    for pos in (0, 4096, 8192):
        conn.resolve(inode, pos)
    assert conn.round_trips.fmap == 4


def test_concurrent_first_opens_keep_the_first_published_map(served):
    barrier = threading.Barrier(2)

    class Racing(InProcessTransport):
        def get_fmap(self, relpath):
            blob = super().get_fmap(relpath)
            barrier.wait(timeout=5)
            return blob

    conn = Connection(Racing(served.server), PULL)
    maps = []
    threads = [threading.Thread(target=lambda: maps.append(conn.open("a").mapped))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert conn.round_trips.fmap == 2
    assert maps[0] is maps[1] is conn.lookup("a").mapped


def test_a_rejected_map_is_never_cached(image_path):
    open(image_path, "wb").truncate(64 * MiB)
    transport = BlobTransport({"f": simple_blob([(0, AU, AU)], AU)[:-1]}, {0: image_path})
    conn = Connection(transport)
    with pytest.raises(MappingError):
        conn.open("f")
    assert conn.lookup("f").mapped is None
    transport.fmaps["f"] = simple_blob([(0, AU, AU)], AU)
    assert conn.open("f").mapped.size == AU


def test_size_mismatch_fails_the_file_until_it_is_looked_up_again(served):
    conn = Connection(served)
    with pytest.raises(MappingError, match="3145728 bytes"):
        conn.open("a", size=MiB)
    with pytest.raises(MappingError):
        conn.open("a")
    conn.forget("a")
    assert conn.open("a").mapped.size == 3 * MiB


def test_failed_device_gives_ehwpoison_and_the_error_sticks(served):
    conn = Connection(served)
    inode = conn.open("a")
    conn.mark_failed(0)
    with pytest.raises(MappingError) as err:
        conn.resolve(inode, 0)
    assert err.value.errno == EHWPOISON
    conn.devices[0].failed = False
    with pytest.raises(MappingError):
        conn.resolve(inode, 0)
    conn.forget("a")
    assert conn.resolve(conn.open("a"), 0).dev == 0


def test_device_the_server_cannot_name_fails_the_open(image_path):
    open(image_path, "wb").truncate(64 * MiB)
    transport = BlobTransport({"f": simple_blob([(3, AU, AU)], AU)}, {0: image_path})
    with pytest.raises(MappingError, match="device index 3"):
        Connection(transport).open("f")


def test_device_missing_from_a_pushed_table_is_an_error(image_path):
    open(image_path, "wb").truncate(64 * MiB)
    transport = BlobTransport({"f": simple_blob([(3, AU, AU)], AU)}, {0: image_path})
    with pytest.raises(MappingError, match="not pushed"):
        Connection(transport, PUSH).open("f")


def test_an_extent_past_the_device_end_never_resolves(image_path):
    open(image_path, "wb").truncate(8 * MiB)
    transport = BlobTransport({"f": simple_blob([(0, 6 * MiB, 4 * MiB)], 4 * MiB)},
                              {0: image_path})
    conn = Connection(transport)
    with pytest.raises(MappingError, match="past the end of device 0"):
        conn.resolve(conn.open("f"), 0)
