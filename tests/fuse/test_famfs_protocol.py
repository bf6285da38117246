"""The famfs FUSE extension on the wire: negotiation, GET_FMAP, GET_DAXDEV, round trips.

A simulated kernel (tests/fuse/simulator.py) talks to a real session serving a real image over
a socket pair, for both numberings of the extension.
"""

from __future__ import annotations

import errno
import gzip
import os
from pathlib import Path

import pytest
from simulator import (
    INIT_OFFER_LINUX_745,
    FamfsKernelClient,
    WireTransport,
    famfs_init,
    serve,
)

from famfs.device import create_image
from famfs.fs.devadd import add_device
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fuse import famfs_ext, wire
from famfs.fuse.famfs_ext import REVISIONS
from famfs.mapping.client import Connection
from famfs.mapping.files import write_file
from famfs.mapping.iomap import MappingError
from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE
from famfs.mapping.wire import (
    FileType,
    decode_get_daxdev,
    decode_get_fmap,
    encode_get_daxdev,
    encode_get_fmap,
    encode_meta_fmap,
)
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry
from famfs.omf.superblock import SUPERBLOCK_SIZE

GOLDEN = Path(__file__).parents[1] / "data" / "famfs-golden"
BOTH = pytest.mark.parametrize("protocol", ["v10", "early"])
IMAGE_SIZE = 64 * MiB


def offer(protocol: str) -> int:
    return INIT_OFFER_LINUX_745 | REVISIONS[protocol].capability


def pattern(tag: int, size: int) -> bytes:
    """`size` bytes that differ per `tag` and per 8-byte word."""
    words = (size + 7) // 8
    return b"".join(((tag << 48) | i).to_bytes(8, "little") for i in range(words))[:size]


@pytest.fixture
def image(image_path: str) -> str:
    """A 64 MiB famfs with a simple file, a nested file and a 3-AU file, each with its bytes."""
    mkfs(image_path, size=IMAGE_SIZE)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("dir")
        for tag, (path, size) in enumerate([("small", 4096), ("dir/nested", 2 * MiB + 17),
                                            ("big", 6 * MiB)], 1):
            write_file(fs, fs.create_file(path, size), 0, pattern(tag, size))
    return image_path


@pytest.fixture
def second_device(image_path: str) -> str:
    path = image_path + ".dev1"
    create_image(path, 16 * MiB)
    yield path
    os.unlink(path)


def add_device_files(image: str, dev1: str) -> dict[str, bytes]:
    """Add device 1 (`dev1`, as famfs devadd does) and log three files: on device 0, on
    devices 0 and 1, on device 1. Returns each file's bytes, written straight into the
    devices."""
    au = 2 * MiB
    with Filesystem(image, writable=True) as fs:
        assert add_device(fs, dev1) == 1
    with Filesystem(image, writable=True) as fs, open(dev1, "r+b") as d1:
        with fs.device.append_lock():
            fs.refresh()
            def take(size: int, devindex: int = 0) -> SimpleExtent:
                fmap = fs.allocator.alloc_contiguous(size, devindex)
                fs.allocator.mark(fmap, -1)
                return fmap.extents[0]

            a0, b0 = take(au), take(au)
            b1, c1 = take(au, devindex=1), take(2 * au, devindex=1)
            entries = [
                FileEntry("on0", au, FileMap.simple([a0])),
                FileEntry("on01", 2 * au, FileMap.simple([b0, b1])),
                FileEntry("on1", 2 * au - 5, FileMap.simple([c1])),
            ]
            fs.log.append(entries)
            fs.refresh()
        data = {}
        for tag, entry in enumerate(entries, 10):
            data[entry.relpath] = pattern(tag, entry.size)
            done = 0
            for ext in entry.fmap.extents:
                n = min(ext.length, entry.size - done)
                chunk = data[entry.relpath][done:done + n]
                if ext.devindex == 0:
                    fs.device.write(ext.offset, chunk)
                else:
                    d1.seek(ext.offset)
                    d1.write(chunk)
                done += n
    return data


# --- negotiation ------------------------------------------------------------------------------


def test_revisions_are_configuration_with_every_known_numbering() -> None:
    assert (REVISIONS["v10"].get_fmap, REVISIONS["v10"].get_daxdev,
            REVISIONS["v10"].capability) == (54, 55, 1 << 43)
    assert (REVISIONS["early"].get_fmap, REVISIONS["early"].get_daxdev,
            REVISIONS["early"].capability) == (53, 54, 1 << 42)
    assert (REVISIONS["push"].get_fmap, REVISIONS["push"].capability,
            REVISIONS["push"].push) == (54, 1 << 43, True)
    assert not REVISIONS["v10"].push and not REVISIONS["early"].push
    assert famfs_ext.revision("off") is None
    assert famfs_ext.CHOICES == ("v10", "early", "push", "off")
    with pytest.raises(ValueError, match="v10, early, push, off"):
        famfs_ext.revision("v9")


@BOTH
def test_offered_capability_is_granted_in_flags2(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        out = famfs_init(s.sim, rev)
        assert out.flags & wire.InitFlag.INIT_EXT
        assert out.flags2 & (1 << (rev.cap_bit - 32))
        assert s.sim.negotiated() & rev.capability
        assert s.ext is not None and s.ext.negotiated


@BOTH
def test_capability_not_offered_leaves_map_opcodes_unrouted(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        s.sim.init(INIT_OFFER_LINUX_745 & ~rev.capability)
        assert not s.sim.negotiated() & rev.capability
        assert s.sim.request(rev.get_fmap, s.sim.lookup(1, "small").nodeid).error == errno.ENOSYS
        assert s.sim.request(rev.get_daxdev, 0).error == errno.ENOSYS
        assert s.ext is not None and not s.ext.negotiated


def test_famfs_bit_in_flags2_without_init_ext_is_not_an_offer(image: str) -> None:
    rev = REVISIONS["v10"]
    with serve(image, "v10") as s:
        init = wire.InitIn(7, 46, 65536, wire.InitFlag.MAX_PAGES | wire.InitFlag.ASYNC_READ,
                           rev.capability >> 32)
        out = wire.InitOut.unpack(s.sim.request(wire.Opcode.INIT, 0, init.pack()).ok())
        assert not out.flags & wire.InitFlag.INIT_EXT and out.flags2 == 0
        assert s.ext is not None and not s.ext.negotiated
        assert s.sim.request(rev.get_fmap, wire.ROOT_ID).error == errno.ENOSYS


def test_protocol_off_declines_an_offered_capability(image: str) -> None:
    with serve(image, "off") as s:
        s.sim.init(offer("v10") | offer("early"))
        assert not s.sim.negotiated() & (REVISIONS["v10"].capability
                                         | REVISIONS["early"].capability)
        assert s.sim.request(54, wire.ROOT_ID).error == errno.ENOSYS
        assert s.ext is None


def test_v10_server_ignores_the_early_bit(image: str) -> None:
    with serve(image, "v10") as s:
        s.sim.init(offer("early") & ~REVISIONS["v10"].capability)
        assert not s.sim.negotiated() & REVISIONS["v10"].capability
        assert s.sim.request(REVISIONS["v10"].get_fmap, wire.ROOT_ID).error == errno.ENOSYS


def test_early_bit_from_a_kernel_of_7_43_or_later_is_request_timeout(image: str) -> None:
    """Bit 42 became FUSE_REQUEST_TIMEOUT in 7.43: a stock 7.45 kernel offers it, and its
    opcode 53 is COPY_FILE_RANGE_64, not GET_FMAP."""
    rev = REVISIONS["early"]
    with serve(image, "early") as s:
        out = s.sim.init(INIT_OFFER_LINUX_745, minor=45)
        assert s.ext is not None and not s.ext.negotiated
        assert out.request_timeout == 0
        nodeid = s.sim.lookup(1, "small").nodeid
        assert s.sim.request(rev.get_fmap, nodeid).error == errno.ENOSYS


def test_early_bit_from_an_early_kernel_is_the_famfs_capability(image: str) -> None:
    rev = REVISIONS["early"]
    with serve(image, "early") as s:
        s.sim.init(INIT_OFFER_LINUX_745, minor=42)
        assert s.ext is not None and s.ext.negotiated
        assert s.sim.request(rev.get_daxdev, 0).error == 0


# --- GET_FMAP -------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("path", ["small", "dir/nested", "big"])
def test_get_fmap_reply_is_the_mapping_layer_encoding(image: str, protocol: str,
                                                      path: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        nodeid = s.sim.lookup_path(path).nodeid
        blob = s.sim.request(rev.get_fmap, nodeid).ok()
        assert blob == encode_get_fmap(s.fs.file(path).entry)
        assert decode_get_fmap(blob).file_size == s.fs.file(path).size


@BOTH
def test_get_fmap_of_meta_files(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        sb = s.fs.sb
        got = {name: s.sim.request(rev.get_fmap, s.sim.lookup_path(name).nodeid).ok()
               for name in (SUPERBLOCK_FILE, LOG_FILE)}
        assert got[LOG_FILE] == encode_meta_fmap(FileType.LOG, sb.log_offset, sb.log_len,
                                                 sb.log_len)
        assert decode_get_fmap(got[SUPERBLOCK_FILE]).file_type == FileType.SUPERBLOCK


@BOTH
def test_get_fmap_of_a_directory_is_enoent(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        assert s.sim.request(rev.get_fmap, s.sim.lookup(1, "dir").nodeid).error == errno.ENOENT
        assert s.sim.request(rev.get_fmap, wire.ROOT_ID).error == errno.ENOENT


@BOTH
def test_get_fmap_of_an_unknown_node_is_estale(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        assert s.sim.request(rev.get_fmap, 987654).error == errno.ESTALE


def test_early_revision_pads_the_reply_to_the_size_asked_for(image: str) -> None:
    rev = REVISIONS["early"]
    with serve(image, "early") as s:
        famfs_init(s.sim, rev)
        nodeid = s.sim.lookup(1, "small").nodeid
        padded = s.sim.request(rev.get_fmap, nodeid, (4096).to_bytes(4, "little") + bytes(4)).ok()
        exact = encode_get_fmap(s.fs.file("small").entry)
        assert len(padded) == 4096
        assert padded[:len(exact)] == exact and not any(padded[len(exact):])


@pytest.fixture
def golden_image(image_path: str) -> str:
    """A 256 MiB image holding the reference's superblock and log (five files)."""
    create_image(image_path, 256 * MiB)
    with open(image_path, "r+b") as fh:
        fh.write(gzip.open(GOLDEN / "superblock.bin.gz").read())
        fh.seek(2 * MiB)
        fh.write(gzip.open(GOLDEN / "log.bin.gz").read())
    return image_path


@BOTH
@pytest.mark.parametrize("index,path", [(0, "non-interleaved-file"), (3, "interleaved-file0")])
def test_get_fmap_of_golden_entries_matches_the_reference_server(golden_image: str,
                                                                  protocol: str, index: int,
                                                                  path: str) -> None:
    rev = REVISIONS[protocol]
    golden = (GOLDEN / f"get_fmap_entry{index}.bin").read_bytes()
    with serve(golden_image, protocol) as s:
        assert s.fs.sb.device_size == 256 * MiB and len(s.fs.sb.encode()) <= SUPERBLOCK_SIZE
        famfs_init(s.sim, rev)
        assert s.sim.request(rev.get_fmap, s.sim.lookup(1, path).nodeid).ok() == golden


# --- GET_DAXDEV -----------------------------------------------------------------------------


@BOTH
def test_get_daxdev_names_the_image_by_absolute_path(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        blob = s.sim.request(rev.get_daxdev, 0).ok()
        assert blob == encode_get_daxdev(0, os.path.abspath(image))
        assert len(blob) == 280
        assert decode_get_daxdev(blob).name == os.path.abspath(image)


@BOTH
@pytest.mark.parametrize("index", [1, 63, 64, 1 << 40])
def test_get_daxdev_of_an_unknown_index_is_einval(image: str, protocol: str,
                                                  index: int) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        assert s.sim.request(rev.get_daxdev, index).error == errno.EINVAL


# --- round trips --------------------------------------------------------------------------


@BOTH
def test_first_open_costs_one_get_fmap_and_one_get_daxdev_per_new_device(
        image: str, second_device: str, protocol: str) -> None:
    data = add_device_files(image, second_device)
    rev = REVISIONS[protocol]
    with serve(image, protocol, device_paths={1: os.path.abspath(second_device)}) as s:
        famfs_init(s.sim, rev)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            entries = {name: s.sim.lookup(1, name) for name in data}
            ids = {name: e.nodeid for name, e in entries.items()}
            expected = [("on0", 1, {0: 1}), ("on01", 2, {0: 1, 1: 1}), ("on1", 3, {0: 1, 1: 1})]
            for name, fmaps, devices in expected:
                kernel.open(ids[name], size=entries[name].attr.size)
                assert kernel.trips.get_fmap == fmaps
                assert dict(kernel.trips.by_device) == devices
            before = kernel.trips.total
            for _ in range(3):
                for name, nodeid in ids.items():
                    kernel.open(nodeid)
                    assert kernel.read(nodeid, 0, len(data[name]) + 100) == data[name]
                    assert kernel.read(nodeid, 4093, 9) == data[name][4093:4102]
            assert kernel.trips.total == before == 5
            assert (s.ext.fmap_requests, s.ext.daxdev_requests) == (3, 2)
            assert s.sim.sent[rev.get_fmap] == 3 and s.sim.sent[rev.get_daxdev] == 2
        finally:
            kernel.close()


@BOTH
def test_mapping_client_over_the_wire_pulls_each_map_and_device_once(
        image: str, second_device: str, protocol: str) -> None:
    """famfs.mapping.client.Connection, carried by GET_FMAP/GET_DAXDEV on the FUSE wire."""
    data = add_device_files(image, second_device)
    rev = REVISIONS[protocol]
    with serve(image, protocol, device_paths={1: os.path.abspath(second_device)}) as s:
        famfs_init(s.sim, rev)
        conn = Connection(WireTransport(s.sim, rev))
        for _ in range(3):
            for name, want in data.items():
                inode = conn.open(name, size=len(want))
                m = conn.resolve(inode, len(want) - 1)
                assert m.offset <= len(want) - 1 < m.offset + m.length
        assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (3, 2)
        assert (s.ext.fmap_requests, s.ext.daxdev_requests) == (3, 2)
        assert conn.devices[1].name == os.path.abspath(second_device)


def test_a_map_whose_size_differs_from_the_inode_is_not_cached(image: str) -> None:
    rev = REVISIONS["v10"]
    with serve(image, "v10") as s:
        famfs_init(s.sim, rev)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            entry = s.sim.lookup(1, "small")
            with pytest.raises(MappingError, match="map of 4096 bytes"):
                kernel.open(entry.nodeid, size=entry.attr.size + 1)
            assert entry.nodeid not in kernel.inodes and not kernel.devices
            kernel.open(entry.nodeid, size=entry.attr.size)
            assert kernel.trips.get_fmap == 2
        finally:
            kernel.close()


@BOTH
def test_cached_map_reads_equal_fuse_reads(image: str, protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            for tag, (path, size) in enumerate([("small", 4096), ("dir/nested", 2 * MiB + 17),
                                                ("big", 6 * MiB)], 1):
                nodeid = s.sim.lookup_path(path).nodeid
                fh = kernel.open(nodeid)
                for offset, length in [(0, 4096), (2 * MiB - 8, 64), (size - 10, 100)]:
                    direct = kernel.read(nodeid, offset, length)
                    assert direct == s.sim.read(nodeid, fh, offset, length)
                    assert direct == pattern(tag, size)[offset:offset + length]
            assert kernel.trips.get_fmap == 3 and kernel.trips.get_daxdev == 1
        finally:
            kernel.close()


@BOTH
def test_an_evicted_inode_fetches_its_map_again_but_not_its_device(image: str,
                                                                   protocol: str) -> None:
    rev = REVISIONS[protocol]
    with serve(image, protocol) as s:
        famfs_init(s.sim, rev)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            nodeid = s.sim.lookup(1, "big").nodeid
            kernel.open(nodeid)
            kernel.drop(nodeid)
            s.sim.forget(nodeid)
            nodeid = s.sim.lookup(1, "big").nodeid
            kernel.open(nodeid)
            assert (kernel.trips.get_fmap, kernel.trips.get_daxdev) == (2, 1)
        finally:
            kernel.close()


# --- the mount option -----------------------------------------------------------------------


@pytest.mark.fuse
@pytest.mark.parametrize("protocol", famfs_ext.CHOICES)
def test_mount_serves_files_with_each_famfs_protocol(mounter, image: str, protocol: str) -> None:
    mp, _ = mounter.mount(image, "--famfs-protocol", protocol)
    with open(os.path.join(mp, "dir/nested"), "rb") as fh:
        assert fh.read() == pattern(2, 2 * MiB + 17)
    with Filesystem(image) as fs:
        assert os.getxattr(os.path.join(mp, "big"), "user.famfs.fmap") == \
            encode_get_fmap(fs.file("big").entry)


@pytest.mark.fuse
def test_mount_refuses_an_unknown_famfs_protocol(mounter, image: str) -> None:
    mp, proc = mounter.mount(image, "--famfs-protocol", "v9", check=False)
    assert proc.returncode != 0
    assert "v9" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.ismount(mp)
