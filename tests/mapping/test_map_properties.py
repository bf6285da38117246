"""Property tests: every format either rejects a blob with a clear error or yields a map that
never resolves outside its extents; resolutions past EOF, on a missing device or on a failed
device are errors, never addresses."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mapping_helpers import AU, BlobTransport, interleave_blob, simple_blob

from famfs.mapping import MappingError, map_file
from famfs.mapping.client import PUSH, Connection
from famfs.mapping.formats import format_names
from famfs.mapping.iomap import EHWPOISON
from famfs.mapping.wire import PAGE_SIZE, decode_get_fmap

PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def simple_blobs(draw, max_dev=63):
    n = draw(st.integers(1, 32))
    exts = [(draw(st.integers(0, max_dev)), draw(st.integers(1, 200)) * AU,
             draw(st.integers(1, 8)) * AU) for _ in range(n)]
    if draw(st.booleans()):
        exts = [(d, o, 2 * AU) for d, o, _ in exts[:-1]] + exts[-1:]
    size = draw(st.integers(1, sum(e[2] for e in exts)))
    return simple_blob(exts, size)


@st.composite
def interleave_blobs(draw, max_dev=63):
    nstrips = draw(st.integers(1, 32))
    chunk = draw(st.sampled_from([4096, AU, 2 * AU, 3 * AU]))
    per_strip = draw(st.integers(1, 4)) * AU
    strips = [(draw(st.integers(0, max_dev)), draw(st.integers(1, 200)) * AU, per_strip)
              for _ in range(nstrips)]
    reach = per_strip // chunk * chunk * nstrips
    if reach == 0:
        chunk = AU
        reach = per_strip // chunk * chunk * nstrips
    size = draw(st.integers(1, reach))
    return interleave_blob(chunk, strips, size)


valid_blobs = st.one_of(simple_blobs(), interleave_blobs())


@st.composite
def mutated_blobs(draw):
    blob = bytearray(draw(valid_blobs))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["byte", "u32", "u64", "cut", "grow"]))
        if kind == "cut" and blob:
            del blob[draw(st.integers(0, len(blob) - 1)):]
        elif kind == "grow":
            blob += draw(st.binary(min_size=1, max_size=48))
        elif blob:
            width = {"byte": 1, "u32": 4, "u64": 8}[kind]
            pos = draw(st.integers(0, max(0, len(blob) - width)))
            value = draw(st.integers(0, (1 << (8 * width)) - 1))
            blob[pos:pos + width] = value.to_bytes(width, "little")[:len(blob) - pos]
    return bytes(blob)


def extents_of(blob: bytes) -> list[tuple[int, int, int]]:
    reply = decode_get_fmap(blob, align=PAGE_SIZE)
    exts = reply.extents or tuple(s for il in reply.interleaves for s in il.strips)
    return [(e.devindex, e.offset, e.length) for e in exts]


def check_map(blob: bytes, fmt: str, positions: list[int]) -> None:
    """Parse `blob` with `fmt`; if accepted, every resolution lies in a declared extent."""
    try:
        m = map_file(blob, format=fmt)
    except MappingError as exc:
        assert str(exc)
        return
    if fmt.startswith("famfs_"):
        exts = extents_of(blob)
    else:
        from famfs_uniform_format import EXTENT, HEADER

        shift, n = struct.unpack_from("<II", blob, 16)
        exts = [(*EXTENT.unpack_from(blob, HEADER.size + i * EXTENT.size), 1 << shift)
                for i in range(n)]
    if m.size == 0:  # an empty file: no offset resolves
        with pytest.raises(MappingError):
            m.begin(0)
        return
    for pos in [0, m.size - 1] + [p % m.size for p in positions]:
        r = m.begin(pos)
        assert r.offset == pos and 1 <= r.length <= m.size - pos
        assert any(d == r.dev and o <= r.addr and r.addr + r.length <= o + n
                   for d, o, n in exts), (r, exts)
    for pos in (m.size, m.size + 1, m.size + (1 << 40), -1):
        with pytest.raises(MappingError):
            m.begin(pos)
    sample = np.array([p % m.size for p in positions] or [0])
    dev, addr, run = m.resolve_many(sample)
    for i, p in enumerate(sample.tolist()):
        r = m.begin(p)
        assert (r.dev, r.addr, r.length) == (int(dev[i]), int(addr[i]), int(run[i]))


positions = st.lists(st.integers(0, 1 << 40), max_size=8)


@PROPS
@given(blob=valid_blobs, offsets=positions)
def test_valid_famfs_blobs_resolve_only_inside_their_extents(blob, offsets):
    check_map(blob, "famfs_simple" if blob[4] == 0 else "famfs_interlv", offsets)


@PROPS
@given(blob=mutated_blobs(), offsets=positions)
def test_mutated_blobs_are_rejected_or_stay_inside_their_extents(plugin_site, blob, offsets):
    for fmt in format_names():
        check_map(blob, fmt, offsets)


@PROPS
@given(blob=st.binary(max_size=400), offsets=positions)
def test_random_bytes_are_rejected_or_stay_inside_their_extents(plugin_site, blob, offsets):
    for fmt in format_names():
        check_map(blob, fmt, offsets)


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    base = tmp_path_factory.mktemp("devs")
    paths = {}
    for i in range(4):
        path = base / f"dev{i}.img"
        with open(path, "wb") as fh:
            fh.truncate(512 * AU)
        paths[i] = str(path)
    return paths


@PROPS
@given(blob=st.one_of(simple_blobs(max_dev=5), interleave_blobs(max_dev=5)),
       failed=st.sets(st.integers(0, 3)), offsets=positions)
def test_missing_or_failed_devices_give_errors_not_addresses(devices, blob, failed, offsets):
    conn = Connection(BlobTransport({"f": blob}, devices), PUSH)
    for index in failed:
        conn.mark_failed(index)
    used = map_file(blob).devices
    try:
        inode = conn.open("f")
    except MappingError as exc:
        assert used - set(devices) and "not pushed" in str(exc)
        return
    size = inode.mapped.size
    for pos in [p % size for p in offsets] + [size, size + AU]:
        try:
            r = conn.resolve(inode, pos)
        except MappingError as exc:
            if exc.errno == EHWPOISON:
                assert inode.error is exc
            continue
        assert pos < size and r.dev not in failed and r.addr + r.length <= 512 * AU
