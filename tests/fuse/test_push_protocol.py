"""Devices across the FUSE wire: GET_DAXDEV for every index (v10), and the newest revision
(push), whose server registers each device with FUSE_DEV_IOC_DAXDEV_OPEN and serves simple
extents only. This machine's kernel cannot take that ioctl, so the kernel side is the simulator
(tests/fuse/simulator.py), which handles the registration as the kernel's ioctl handler does."""

from __future__ import annotations

import errno
import os
import struct
import uuid
from collections.abc import Iterator

import pytest
from simulator import FamfsKernelClient, serve

from famfs import pattern
from famfs.alloc import InterleaveParams
from famfs.fs.devadd import add_device, mkfs_devices
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fuse import wire
from famfs.fuse.famfs_ext import REVISIONS, ioctl_pusher
from famfs.mapping import map_file
from famfs.mapping.famfs_formats import WALK
from famfs.mapping.files import write_file
from famfs.mapping.formats import MetaView
from famfs.mapping.iomap import MappingError
from famfs.mapping.wire import (
    HEADER_SIZE,
    MAX_SIMPLE_FMAP_EXTENTS,
    decode_simple_fmap,
    encode_get_fmap,
    encode_simple_fmap,
    encode_unrolled_fmap,
    getxattr_in,
    simple_fmap_size,
)
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry

AU = 2 * MiB
STRIPED = 40 * MiB + 4321
PUSH = REVISIONS["push"]
V10 = REVISIONS["v10"]


@pytest.fixture
def devices(image_path: str) -> Iterator[list[str]]:
    paths = [image_path, image_path + ".s1", image_path + ".s2"]
    yield paths
    for p in paths[1:]:
        if os.path.exists(p):
            os.unlink(p)


def striped_fs(paths: list[str], secondaries: int = 2) -> bytes:
    """A famfs on paths[0] with `secondaries` more devices and a file `striped` over all of
    them, filled with a pattern (returned)."""
    mkfs_devices(paths[0], paths[1:1 + secondaries], size=96 * MiB)
    data = pattern.pattern_bytes(5, STRIPED)
    with Filesystem(paths[0], writable=True) as fs:
        node = fs.create_file("striped", STRIPED,
                              interleave=InterleaveParams(None, 1 + secondaries, AU))
        write_file(fs, node, 0, data)
        fs.flush_file(node)
    return data


def test_the_ioctl_is_the_backing_map_call_with_the_device_index() -> None:
    assert wire.BACKING_MAP.size == 16
    assert wire.FUSE_DEV_IOC_DAXDEV_OPEN == (1 << 30) | (16 << 16) | (229 << 8) | 4
    assert wire.pack_daxdev_open(7, 3) == (7).to_bytes(4, "little") + bytes(4) + \
        (3).to_bytes(8, "little")


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse")
def test_this_kernel_does_not_take_the_daxdev_ioctl() -> None:
    fuse_fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    dev_fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as caught:
            ioctl_pusher(fuse_fd)(dev_fd, 1)
        assert caught.value.errno in (errno.ENOTTY, errno.EINVAL, errno.EPERM)
    finally:
        os.close(dev_fd)
        os.close(fuse_fd)


def test_get_daxdev_answers_every_index_and_the_kernel_reads_a_file_on_three_devices(
        devices: list[str]) -> None:
    data = striped_fs(devices)
    with serve(devices[0], "v10") as s:
        s.init(V10)
        kernel = FamfsKernelClient(s.sim, V10)
        try:
            entry = s.sim.lookup(1, "striped")
            kernel.open(entry.nodeid, size=entry.attr.size)
            assert dict(kernel.trips.by_device) == {0: 1, 1: 1, 2: 1}
            assert kernel.read(entry.nodeid, 0, STRIPED + 10) == data
            for index, path in enumerate(devices):
                reply = s.sim.request(V10.get_daxdev, index)
                assert wire.cstring(reply.ok(), 24).decode() == path
            assert s.sim.request(V10.get_daxdev, 3).error == errno.EINVAL
        finally:
            kernel.close()


def test_push_registers_every_device_right_after_init_and_sends_no_get_daxdev(
        devices: list[str]) -> None:
    data = striped_fs(devices)
    with serve(devices[0], "push") as s:
        s.init(PUSH)
        assert sorted(s.sim.pushed) == [0, 1, 2] and s.ext.pushed == {0, 1, 2}
        kernel = FamfsKernelClient(s.sim, PUSH)
        try:
            entry = s.sim.lookup(1, "striped")
            kernel.open(entry.nodeid, size=entry.attr.size)
            assert kernel.read(entry.nodeid, 0, STRIPED) == data
            assert kernel.read(entry.nodeid, 4 * MiB - 5, 10) == data[4 * MiB - 5:4 * MiB + 5]
            assert s.sim.sent[PUSH.get_daxdev] == 0 and s.ext.daxdev_requests == 0
            assert kernel.trips.get_fmap == 1
        finally:
            kernel.close()


def test_push_serves_an_interleaved_file_as_uniform_chunk_extents_resolved_by_shift(
        devices: list[str]) -> None:
    striped_fs(devices)
    with serve(devices[0], "push") as s:
        s.init(PUSH)
        nodeid = s.sim.lookup(1, "striped").nodeid
        blob = s.sim.request(PUSH.get_fmap, nodeid, getxattr_in(1 << 20)).ok()
        fmap = decode_simple_fmap(blob)
        chunks = -(-STRIPED // AU)
        assert len(fmap.lengths) == chunks and simple_fmap_size(blob) == len(blob)
        assert set(fmap.lengths[:-1].tolist()) == {AU} and fmap.lengths[-1] <= AU
        assert fmap.devs[:6].tolist() == [int(d) for d in fmap.devs[:3]] * 2
        assert len(set(fmap.devs[:3].tolist())) == 3
        mapped = map_file(blob, "famfs_unrolled")
        shift = MetaView(mapped.meta.read(0, 16)).unpack(struct.Struct("<QII"), 0)[2]
        assert shift == 21 and shift != WALK


def test_a_map_larger_than_the_offered_buffer_is_answered_with_its_header_then_in_full(
        devices: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = striped_fs(devices)
    monkeypatch.setattr(FamfsKernelClient, "FMAP_BUFFER_INIT", 256)
    with serve(devices[0], "push") as s:
        s.init(PUSH)
        nodeid = s.sim.lookup(1, "striped").nodeid
        head = s.sim.request(PUSH.get_fmap, nodeid, getxattr_in(256)).ok()
        assert len(head) == HEADER_SIZE and simple_fmap_size(head) > 256
        kernel = FamfsKernelClient(s.sim, PUSH)
        try:
            kernel.open(nodeid)
            assert kernel.fmap_attempts == [256, simple_fmap_size(head)]
            assert kernel.read(nodeid, 0, STRIPED) == data
        finally:
            kernel.close()
        assert s.sim.request(PUSH.get_fmap, nodeid).error == errno.EINVAL


def test_a_device_added_while_served_is_pushed_before_its_files_are_served(
        devices: list[str]) -> None:
    striped_fs(devices, secondaries=1)
    with open(devices[2], "wb") as fh:
        fh.truncate(96 * MiB)
    with serve(devices[0], "push") as s:
        s.init(PUSH)
        assert sorted(s.sim.pushed) == [0, 1]
        with Filesystem(devices[0], writable=True) as fs:
            assert add_device(fs, devices[2]) == 2
            node = fs.create_files([NewFile("on2", 3 * MiB, device=2)])[0]
            write_file(fs, node, 0, b"third" * 1000)
            fs.flush_file(node)
        s.sim.getxattr(1, "user.famfs.logplay").ok()
        assert sorted(s.sim.pushed) == [0, 1, 2]
        kernel = FamfsKernelClient(s.sim, PUSH)
        try:
            nodeid = s.sim.lookup(1, "on2").nodeid
            kernel.open(nodeid)
            assert kernel.read(nodeid, 0, 5000) == b"third" * 1000
        finally:
            kernel.close()


def test_a_device_the_server_could_not_register_makes_the_kernel_refuse_its_files(
        devices: list[str]) -> None:
    striped_fs(devices)
    os.rename(devices[2], devices[2] + ".away")
    try:
        with serve(devices[0], "push") as s:
            s.init(PUSH)
            assert sorted(s.sim.pushed) == [0, 1] and 2 in s.ext.push_errors
            assert "UUID" in s.ext.push_errors[2]
            kernel = FamfsKernelClient(s.sim, PUSH)
            try:
                with pytest.raises(MappingError, match="device 2 was never registered"):
                    kernel.open(s.sim.lookup(1, "striped").nodeid)
            finally:
                kernel.close()
    finally:
        os.rename(devices[2] + ".away", devices[2])


def test_the_kernel_refuses_a_registration_before_famfs_is_negotiated(
        devices: list[str]) -> None:
    striped_fs(devices)
    with serve(devices[0], "off") as s:
        s.sim.init(0)
        fd = os.open(devices[1], os.O_RDONLY)
        try:
            with pytest.raises(OSError) as caught:
                s.sim.daxdev_open(fd, 1)
            assert caught.value.errno == errno.EOPNOTSUPP
        finally:
            os.close(fd)


def test_an_unrolled_map_holds_at_most_524288_extents() -> None:
    huge = [SimpleExtent(i, 2 * MiB, 1 << 38) for i in range(4)]
    ok = FileEntry("f", MAX_SIMPLE_FMAP_EXTENTS * AU, FileMap.interleaved(AU, huge))
    assert simple_fmap_size(encode_unrolled_fmap(ok)) == HEADER_SIZE + 24 * (1 << 19)
    too_big = FileEntry("g", MAX_SIMPLE_FMAP_EXTENTS * AU + 1, FileMap.interleaved(AU, huge))
    with pytest.raises(MappingError, match="at most 524288"):
        encode_unrolled_fmap(too_big)
    with pytest.raises(MappingError, match="524289 extents"):
        encode_simple_fmap(0, 1, [0] * (MAX_SIMPLE_FMAP_EXTENTS + 1),
                           [AU] * (MAX_SIMPLE_FMAP_EXTENTS + 1),
                           [AU] * (MAX_SIMPLE_FMAP_EXTENTS + 1))


def test_a_simple_map_is_checked_as_the_kernel_checks_it() -> None:
    good = encode_simple_fmap(0, 3 * AU, [0, 1], [AU, 2 * AU], [2 * AU, 2 * AU])
    assert decode_simple_fmap(good).devices == {0, 1}
    for blob, field in [
        (good[:-1], "length"),
        (encode_simple_fmap(0, 5 * AU, [0, 1], [AU, 2 * AU], [2 * AU, 2 * AU]), "file_size"),
        (encode_simple_fmap(0, AU, [64], [AU], [AU]), "se\\[0\\]"),
        (encode_simple_fmap(0, AU, [0], [AU + 4096], [AU]), "se\\[0\\]"),
    ]:
        with pytest.raises(MappingError, match=field):
            decode_simple_fmap(blob)
    interleaved = bytearray(good)
    interleaved[4] = 1
    with pytest.raises(MappingError, match="simple extents only"):
        decode_simple_fmap(bytes(interleaved))


def test_unrolled_and_interleaved_maps_resolve_every_offset_alike() -> None:
    strips = [SimpleExtent(d, (10 + 20 * d) * MiB, 8 * MiB) for d in range(3)]
    entry = FileEntry(f"x{uuid.uuid4().hex[:4]}", 23 * MiB + 5, FileMap.interleaved(AU, strips))
    unrolled = map_file(encode_unrolled_fmap(entry), "famfs_unrolled")
    interleaved = map_file(encode_get_fmap(entry))
    a = [(m.offset, m.dev, m.addr, m.length) for m in unrolled.spans()]
    b = [(m.offset, m.dev, m.addr, m.length) for m in interleaved.spans()]
    assert a == b
