"""Multi-device famfs without mounts: secondary superblocks, the resolver, devadd, the
allocation policies, what the reference still accepts, and fsck's per-device figures."""

from __future__ import annotations

import gzip
import os
import struct
import uuid
import zlib
from pathlib import Path

import pytest

from famfs.alloc import InterleaveParams
from famfs.device import create_image
from famfs.errors import (
    CorruptError,
    MissingDeviceError,
    NoSpaceError,
    SecondaryDeviceError,
    UsageError,
    WrongVersionError,
)
from famfs.fs.devadd import add_device, mkfs_devices
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file, write_file
from famfs.omf.layout import SUPERBLOCK_VERSION, MiB
from famfs.omf.log import AddDaxdevEntry
from famfs.omf.superblock import (
    SECONDARY_SB,
    SECONDARY_SIZE,
    SECONDARY_VERSION,
    SecondarySuperblock,
    Superblock,
    decode_member,
)
from famfs.resolver import Resolver, read_member

AU = 2 * MiB
GOLDEN = Path(__file__).parents[1] / "data" / "famfs-golden"


@pytest.fixture
def devices(image_path: str) -> list[str]:
    """Paths of a primary and two secondaries (64 MiB images in /dev/shm), removed after."""
    paths = [image_path, image_path + ".s1", image_path + ".s2"]
    yield paths
    for p in paths[1:]:
        if os.path.exists(p):
            os.unlink(p)


def three_device_fs(devices: list[str]) -> list[str]:
    mkfs_devices(devices[0], devices[1:], size=64 * MiB)
    return devices


# --- the secondary superblock ---------------------------------------------------------------


def _secondary(**kw) -> SecondarySuperblock:  # type: ignore[no-untyped-def]
    base = dict(fs_uuid=uuid.uuid4(), dev_uuid=uuid.uuid4(), primary_uuid=uuid.uuid4(),
                system_uuid=uuid.uuid4(), device_size=64 * MiB, device_name="/dev/dax1.0")
    base.update(kw)
    return SecondarySuperblock(**base)


def test_a_secondary_superblock_is_marked_secondary_with_no_log_and_its_primary_uuid() -> None:
    sb = _secondary()
    raw = sb.encode()
    assert len(raw) == SECONDARY_SIZE == 216
    magic, version, log_offset, log_len = struct.unpack_from("<QQQQ", raw)
    assert (magic, version, log_offset, log_len) == (0x87B282FF, SECONDARY_VERSION, 0, 0)
    assert raw[96:112] == sb.primary_uuid.bytes
    assert struct.unpack_from("<Q", raw, 112)[0] == zlib.crc32(raw[:112])
    assert struct.unpack_from("<I", raw, 120)[0] == SECONDARY_SB
    back = SecondarySuperblock.decode(raw)
    assert (back.fs_uuid, back.dev_uuid, back.primary_uuid) == \
        (sb.fs_uuid, sb.dev_uuid, sb.primary_uuid)


@pytest.mark.parametrize("offset", [16, 24])
def test_a_secondary_superblock_that_references_a_log_is_refused(offset: int) -> None:
    raw = bytearray(_secondary().encode())
    raw[offset + 1] = 0x20
    struct.pack_into("<Q", raw, 112, zlib.crc32(raw[:112]))
    with pytest.raises(CorruptError, match="log_offset"):
        SecondarySuperblock.decode(bytes(raw))


def test_the_crc_of_a_secondary_covers_its_primarys_uuid() -> None:
    raw = bytearray(_secondary().encode())
    raw[100] ^= 1
    with pytest.raises(CorruptError, match="crc"):
        SecondarySuperblock.decode(bytes(raw))


def test_a_secondary_superblock_must_say_it_is_one() -> None:
    raw = bytearray(_secondary().encode())
    struct.pack_into("<I", raw, 120, 0)  # the flags are not under the CRC
    with pytest.raises(CorruptError, match="sb_flags"):
        SecondarySuperblock.decode(bytes(raw))


def test_the_primary_decoder_names_a_secondary_and_its_primary() -> None:
    sb = _secondary()
    for length in (200, SECONDARY_SIZE):
        with pytest.raises(SecondaryDeviceError) as caught:
            Superblock.decode(sb.encode()[:length])
        assert caught.value.primary_uuid == sb.primary_uuid
        assert str(sb.primary_uuid) in str(caught.value)
    assert isinstance(decode_member(sb.encode()), SecondarySuperblock)


# --- what the reference checks ---------------------------------------------------------------
# The reference's famfs_check_super: magic, then version (another version: refused as not
# compatible), then the CRC of bytes [0, 96) stored at 96, then the allocation unit. Its log
# checks: header magic and CRC of [0, 24); every entry's seqnum and CRC of [0, 536); a known type
# (FILE, MKDIR, DELETE, ADD_DAXDEV in OMF 2.2); file entries with a relative path and no extent
# at offset 0 (shared/spec/famfs-format.md, src/famfs_lib.c).


def reference_check_super(raw: bytes) -> str:
    """'ok', or why the reference's famfs_check_super refuses the superblock."""
    magic, version = struct.unpack_from("<QQ", raw)
    if magic != 0x87B282FF:
        return "magic"
    if version != SUPERBLOCK_VERSION:
        return "version"
    if struct.unpack_from("<Q", raw, 96)[0] != zlib.crc32(raw[:96]):
        return "crc"
    if struct.unpack_from("<Q", raw, 32)[0] not in (4096, 0x200000):
        return "alloc_unit"
    return "ok"


def reference_check_log(log: bytes) -> list[int]:
    """Entry types of a log the reference replays; AssertionError where it would refuse."""
    magic, length, last, crc, _seq, nxt = struct.unpack_from("<QQQQQQ", log)
    assert magic == 0xBADCAFEF00D and crc == zlib.crc32(log[:24])
    types = []
    for i in range(nxt):
        entry = log[48 + 544 * i:48 + 544 * (i + 1)]
        seq, etype = struct.unpack_from("<QI", entry)
        assert seq == i and struct.unpack_from("<Q", entry, 536)[0] == zlib.crc32(entry[:536])
        assert etype in (0, 1, 2, 3), f"entry {i}: type {etype}"
        if etype == 0:
            assert entry[40:41] not in (b"/", b"\0"), f"entry {i}: path not relative"
            ext_type, count = struct.unpack_from("<I4xI", entry, 120)
            exts = [struct.unpack_from("<QQQ", entry, 136 + 24 * k) for k in range(count)] \
                if ext_type == 0 else \
                [struct.unpack_from("<QQQ", entry, 152 + 24 * k)
                 for k in range(struct.unpack_from("<Q", entry, 136)[0])]
            assert all(off != 0 for _, off, _ in exts), f"entry {i}: extent at offset 0"
        types.append(etype)
    return types


def test_the_reference_checks_pass_on_the_golden_image() -> None:
    sb = gzip.open(GOLDEN / "superblock.bin.gz").read()
    assert reference_check_super(sb) == "ok"
    assert reference_check_log(gzip.open(GOLDEN / "log.bin.gz").read())


def test_the_reference_accepts_the_primary_and_its_log_and_refuses_a_secondary(
        devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as fs:
        fs.create_file("striped", 20 * MiB, interleave=InterleaveParams(None, 3, AU))
        fs.create_file("plain", 3 * MiB)
    with open(devices[0], "rb") as fh:
        raw = fh.read(12 * MiB)
    assert reference_check_super(raw[:200]) == "ok"
    assert reference_check_log(raw[2 * MiB:10 * MiB]) == [3, 3, 0, 0]
    for secondary in devices[1:]:
        with open(secondary, "rb") as fh:
            head = fh.read(SECONDARY_SIZE)
        assert reference_check_super(head) == "version"
        # Even a reader that skipped the version check would fail the CRC.
        assert struct.unpack_from("<Q", head, 96)[0] != zlib.crc32(head[:96])


# --- devadd and mkfs -------------------------------------------------------------------------


def test_devadd_logs_the_device_by_uuid_with_the_next_index(devices: list[str]) -> None:
    mkfs(devices[0], size=64 * MiB)
    create_image(devices[1], 64 * MiB)
    with Filesystem(devices[0], writable=True) as fs:
        assert add_device(fs, devices[1]) == 1
        entry = list(fs.log.entries(0, 1))[0].payload
        secondary = read_member(devices[1])
        assert isinstance(secondary, SecondarySuperblock)
        assert entry == AddDaxdevEntry(1, 64 * MiB, secondary.dev_uuid.bytes)
        assert secondary.primary_uuid == fs.sb.dev_uuid and secondary.fs_uuid == fs.sb.fs_uuid


def test_devadd_refuses_a_device_of_this_famfs_a_small_one_and_one_with_data(
        devices: list[str]) -> None:
    three_device_fs(devices)
    other = devices[0] + ".other"
    try:
        create_image(other, 2 * MiB)
        with Filesystem(devices[0], writable=True) as fs:
            before = fs.log.header().next_index
            with pytest.raises(UsageError, match="device 1 of this famfs already"):
                add_device(fs, devices[1])
            with pytest.raises(UsageError, match="primary device of this famfs|device 0"):
                add_device(fs, devices[0])
            with pytest.raises(UsageError, match="too small"):
                add_device(fs, other)
            create_image(other, 64 * MiB)
            with open(other, "r+b") as fh:
                fh.seek(5 * MiB)
                fh.write(b"data")
            with pytest.raises(Exception, match="holds data"):
                add_device(fs, other)
            assert fs.log.header().next_index == before
    finally:
        os.unlink(other)


def test_mkfs_checks_every_device_before_writing_anything(devices: list[str]) -> None:
    create_image(devices[1], 64 * MiB)
    with open(devices[1], "r+b") as fh:
        fh.seek(MiB)
        fh.write(b"not empty")
    with pytest.raises(Exception, match="holds data"):
        mkfs_devices(devices[0], devices[1:], size=64 * MiB)
    assert not os.path.exists(devices[0]) and not os.path.exists(devices[2])


def test_an_add_killed_before_its_entry_leaves_a_superblock_devadd_reuses(
        devices: list[str]) -> None:
    mkfs(devices[0], size=64 * MiB)
    create_image(devices[1], 64 * MiB)
    with Filesystem(devices[0]) as fs:
        orphan = SecondarySuperblock(fs.sb.fs_uuid, uuid.uuid4(), fs.sb.dev_uuid,
                                     fs.sb.system_uuid, 64 * MiB, devices[1])
    with open(devices[1], "r+b") as fh:
        fh.write(orphan.encode())
    with Filesystem(devices[0], writable=True) as fs:
        assert add_device(fs, devices[1]) == 1
        assert fs.devices.member(1).uuid != orphan.dev_uuid


def test_out_of_order_and_duplicate_device_entries_are_corrupt(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs, fs.device.append_lock():
        fs.log.append([AddDaxdevEntry(2, 64 * MiB, uuid.uuid4().bytes)])
    with pytest.raises(CorruptError, match="out of order"):
        Filesystem(image_path)
    mkfs(image_path, size=64 * MiB, force=True)
    same = uuid.uuid4().bytes
    with Filesystem(image_path, writable=True) as fs, fs.device.append_lock():
        fs.log.append([AddDaxdevEntry(1, 64 * MiB, same), AddDaxdevEntry(2, 64 * MiB, same)])
    with pytest.raises(CorruptError, match="device of this famfs already"):
        Filesystem(image_path)


# --- the resolver ------------------------------------------------------------------------------


def test_the_resolver_finds_devices_by_uuid_in_the_candidate_paths(
        devices: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0]) as fs:
        fs_uuid, dev2 = fs.sb.fs_uuid, fs.devices.member(2).uuid
    elsewhere = Path("/dev/shm") / f"pyfamfs-other-{uuid.uuid4().hex[:8]}"
    elsewhere.mkdir()
    try:
        os.link(devices[2], elsewhere / "third.img")
        monkeypatch.setenv("FAMFS_STATE_DIR", str(tmp_path / "other-host"))
        monkeypatch.setenv("FAMFS_DAXDEV_PATH", str(elsewhere))
        resolver = Resolver(fs_uuid)
        assert resolver.cached() == []
        assert resolver.resolve(dev2, 2) == str(elsewhere / "third.img")
        assert [r.path for r in resolver.cached()] == [str(elsewhere / "third.img")]
        with pytest.raises(MissingDeviceError, match="device 1 \\(UUID "):
            with Filesystem(devices[0]) as fs:
                fs.devices.path(1)
    finally:
        for p in elsewhere.iterdir():
            p.unlink()
        elsewhere.rmdir()


def test_a_cached_path_is_checked_on_every_use_and_dropped_when_stale(
        devices: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0]) as fs:
        resolver = Resolver(fs.sb.fs_uuid)
        dev1 = fs.devices.member(1).uuid
    assert resolver.resolve(dev1) == devices[1]
    moved = devices[1] + ".moved"
    os.rename(devices[1], moved)
    try:
        with pytest.raises(MissingDeviceError, match=str(dev1)):
            resolver.resolve(dev1, 1)
        assert dev1 not in {r.dev_uuid for r in resolver.cached()}
        monkeypatch.setenv("FAMFS_DAXDEV_PATH", moved)
        assert resolver.resolve(dev1) == moved
    finally:
        os.rename(moved, devices[1])


def test_two_devices_claiming_one_uuid_are_refused(devices: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    three_device_fs(devices)
    copy = devices[1] + ".copy"
    with open(devices[1], "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read(4 * MiB))
    try:
        monkeypatch.setenv("FAMFS_DAXDEV_PATH", f"{devices[1]}:{copy}")
        with Filesystem(devices[0]) as fs:
            with pytest.raises(Exception, match="two different devices"):
                fs.devices.resolver.scan()
    finally:
        os.unlink(copy)


def test_mkfs_over_a_device_drops_it_from_the_cache(devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0]) as fs:
        resolver = Resolver(fs.sb.fs_uuid)
        dev2 = fs.devices.member(2).uuid
    assert dev2 in {r.dev_uuid for r in resolver.cached()}
    mkfs(devices[2], force=True)
    assert dev2 not in {r.dev_uuid for r in resolver.cached()}


# --- allocation ----------------------------------------------------------------------------------


def test_striped_files_put_one_strip_on_each_of_nstrips_distinct_devices(
        devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as fs:
        for n in (1, 2, 3):
            node = fs.create_file(f"s{n}", 12 * MiB, interleave=InterleaveParams(None, n, AU))
            strips = node.entry.fmap.all_extents()
            assert len(strips) == n and len({s.devindex for s in strips}) == n
        with pytest.raises(UsageError, match="one strip per device|its own device"):
            fs.create_file("s4", 12 * MiB, interleave=InterleaveParams(None, 4, AU))


def test_a_contiguous_file_goes_on_a_device_with_room_or_the_one_named(
        devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as fs:
        assert fs.create_files([NewFile("on2", 4 * MiB, device=2)])[0] \
            .entry.fmap.extents[0].devindex == 2
        fs.create_files([NewFile("fill1", 62 * MiB, device=1),
                         NewFile("fill2", 58 * MiB, device=2)])
        seen = {fs.create_file(f"f{i}", 8 * MiB).entry.fmap.extents[0].devindex
                for i in range(4)}
        assert seen == {0}
        with pytest.raises(NoSpaceError, match="any of the 3 devices"):
            fs.create_file("huge", 60 * MiB)
        with pytest.raises(UsageError, match="device 5 is not a device"):
            fs.create_files([NewFile("x", MiB, device=5)])


def test_files_on_every_device_read_back_through_their_maps(devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as fs:
        node = fs.create_file("striped", 30 * MiB + 7, interleave=InterleaveParams(None, 3, AU))
        data = os.urandom(node.size)
        assert write_file(fs, node, 0, data) == node.size
        fs.flush_file(node)
    with Filesystem(devices[0]) as fs:
        assert read_file(fs, fs.file("striped"), 0, len(data)) == data
        assert read_file(fs, fs.file("striped"), 2 * MiB - 3, 9) == data[2 * MiB - 3:2 * MiB + 6]


# --- fsck ----------------------------------------------------------------------------------------


def test_fsck_reports_each_devices_capacity_use_and_collisions(devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as fs:
        fs.create_files([NewFile("a", 10 * MiB, device=1), NewFile("b", 4 * MiB, device=2)])
        fs.clone("b", "b2")
    report = fsck(devices[0])
    by_index = {d.index: d for d in report.devices}
    assert sorted(by_index) == [0, 1, 2]
    assert by_index[1].capacity == 64 * MiB and by_index[1].used == 2 * MiB + 10 * MiB
    assert by_index[2].used == 2 * MiB + 4 * MiB and by_index[2].collisions == 1
    assert by_index[1].collisions == 0 and by_index[1].path == devices[1]
    assert sum(d.capacity for d in report.devices) == report.capacity
    assert not report.ok


def test_fsck_of_a_secondary_checks_its_primary_and_names_it(devices: list[str]) -> None:
    three_device_fs(devices)
    report = fsck(devices[2])
    assert report.device == devices[0]
    assert report.notes and devices[0] in report.notes[0] and "device 2" in report.notes[0]


def test_fsck_lists_a_device_missing_on_this_host_without_failing(devices: list[str]) -> None:
    three_device_fs(devices)
    os.rename(devices[2], devices[2] + ".gone")
    try:
        report = fsck(devices[0])
    finally:
        os.rename(devices[2] + ".gone", devices[2])
    (missing,) = [d for d in report.devices if d.path is None]
    assert missing.index == 2 and "not found" in missing.state
    assert report.ok


def test_the_secondary_version_is_not_a_version_this_tool_takes_for_a_primary() -> None:
    raw = bytearray(_secondary().encode())
    raw[8:16] = struct.pack("<Q", SECONDARY_VERSION + 1)
    struct.pack_into("<Q", raw, 112, zlib.crc32(raw[:112]))
    with pytest.raises((WrongVersionError, CorruptError)):
        Superblock.decode(bytes(raw))


def test_the_resolver_reads_candidates_from_the_config_file_and_globs(
        devices: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0]) as fs:
        fs_uuid = fs.sb.fs_uuid
        wanted = {m.uuid: m.index for m in fs.devices if m.index}
    config = tmp_path / "daxdevs.conf"
    config.write_text(f"# this host's memory\n\n{devices[1]}\n{devices[0]}.s2*\n")
    monkeypatch.setenv("FAMFS_STATE_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("FAMFS_DAXDEV_CONFIG", str(config))
    resolver = Resolver(fs_uuid)
    assert {resolver.resolve(u, i) for u, i in wanted.items()} == set(devices[1:])
    assert {r.path for r in resolver.refresh()} == set(devices[1:])


def test_space_held_on_a_secondary_by_one_reservation_is_not_given_to_another(
        devices: list[str]) -> None:
    three_device_fs(devices)
    with Filesystem(devices[0], writable=True) as first, \
            Filesystem(devices[0], writable=True) as second:
        held = first.reserve([NewFile("pending", 20 * MiB, device=2)])
        (ext,) = held.files[0].entry.fmap.extents
        taken = second.create_files([NewFile("other", 20 * MiB, device=2)])[0]
        (other,) = taken.entry.fmap.extents
        assert other.offset >= ext.offset + ext.length or other.offset + other.length <= \
            ext.offset
        held.abort()
        again = second.create_files([NewFile("again", 20 * MiB, device=2)])[0]
        assert again.entry.fmap.extents[0].offset == ext.offset


def test_a_user_who_cannot_write_the_system_cache_keeps_one_of_their_own(
        devices: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import famfs.resolver as resolver_module

    three_device_fs(devices)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.delenv("FAMFS_STATE_DIR")
    monkeypatch.setattr(resolver_module, "DEFAULT_STATE_DIR", str(blocked / "famfs"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FAMFS_DAXDEV_PATH", devices[2])
    with Filesystem(devices[0]) as fs:
        resolver = Resolver(fs.sb.fs_uuid)
        assert resolver.resolve(fs.devices.member(2).uuid) == devices[2]
        assert resolver.cache_path.startswith(str(tmp_path / "cache" / "famfs"))
        assert [r.path for r in resolver.cached()] == [devices[2]]
