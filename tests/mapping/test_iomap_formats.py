"""The built-in formats and map_file: iomap semantics, shift vs search, interleave math."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mapping_helpers import AU, GOLDEN, golden_entry, reference_resolve

from famfs.mapping import IoMapType, MappingError, map_file
from famfs.mapping.famfs_formats import INTERLEAVE, SIMPLE, WALK, simple_meta
from famfs.mapping.formats import MetaView
from famfs.mapping.wire import (
    FileType,
    GetFmapReply,
    WireExtent,
    WireInterleave,
    encode_fmap_reply,
    encode_get_fmap,
)
from famfs.omf.fmap import ExtentType, FileMap, SimpleExtent
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry


def simple_blob(extents, size):
    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.SIMPLE, size,
                                          extents=tuple(WireExtent(*e) for e in extents)))


def interleave_blob(chunk, strips, size):
    il = WireInterleave(chunk, size, tuple(WireExtent(*s) for s in strips))
    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.INTERLEAVE, size,
                                          interleaves=(il,)))


def test_map_file_picks_the_format_by_extent_type():
    assert map_file((GOLDEN / "get_fmap_entry0.bin").read_bytes()).format is SIMPLE
    assert map_file((GOLDEN / "get_fmap_entry3.bin").read_bytes()).format is INTERLEAVE


def test_begin_covers_pos_and_stops_at_the_extent_end():
    m = map_file(simple_blob([(0, 10 * AU, AU), (0, 4 * AU, 2 * AU)], 3 * AU))
    first = m.begin(AU - 10, 100)
    assert first == (AU - 10, 10, 11 * AU - 10, IoMapType.MAPPED, 0, 0)
    second = m.begin(AU, 0)
    assert (second.addr, second.length) == (4 * AU, 2 * AU)


def test_begin_returns_at_most_the_requested_length():
    m = map_file(simple_blob([(0, 10 * AU, 4 * AU)], 4 * AU))
    assert m.begin(5, 7).length == 7


def test_begin_is_clipped_to_the_file_size():
    m = map_file(simple_blob([(0, 10 * AU, 4 * AU)], 3 * AU + 5))
    assert m.begin(3 * AU).length == 5


@pytest.mark.parametrize("pos", [-1, 3 * AU + 5, 10 * AU])
def test_begin_at_or_past_eof_or_negative_is_an_error(pos):
    m = map_file(simple_blob([(0, 10 * AU, 4 * AU)], 3 * AU + 5))
    with pytest.raises(MappingError, match="outside the file"):
        m.begin(pos)


def test_uniform_power_of_two_extents_resolve_by_shift_and_irregular_ones_by_search():
    uniform = simple_meta(10 * AU, [(0, (i + 5) * 2 * AU, 2 * AU) for i in range(4)]
                          + [(0, 100 * AU, 4 * AU)])
    irregular = simple_meta(10 * AU, [(0, 5 * AU, 3 * AU), (0, 20 * AU, 7 * AU)])
    header = struct.Struct("<QII")
    assert MetaView(uniform).unpack(header, 0)[2] == 22
    assert MetaView(irregular).unpack(header, 0)[2] == WALK
    assert SIMPLE.begin(MetaView(uniform), 9 * AU, 0, 0).addr == 100 * AU + AU


def test_shift_and_search_agree_with_the_reference_address_math():
    exts = [SimpleExtent(0, (20 + 3 * i) * AU, 2 * AU) for i in range(7)] + [
        SimpleExtent(1, 200 * AU, 6 * AU)]
    odd = [SimpleExtent(0, (20 + 5 * i) * AU, (i % 3 + 1) * AU) for i in range(9)]
    for extents in (exts, odd):
        fmap = FileMap.simple(extents)
        size = fmap.capacity() - 12345
        m = map_file(simple_blob([(e.devindex, e.offset, e.length) for e in extents], size))
        for pos in range(0, size, 333_331):
            dev, addr, run = reference_resolve(fmap, pos)
            got = m.begin(pos)
            assert (got.dev, got.addr, got.length) == (dev, addr, min(run, size - pos))


def test_interleave_resolves_chunks_round_robin():
    strips = [(0, 10 * AU, 4 * AU), (0, 40 * AU, 4 * AU), (2, 70 * AU, 4 * AU)]
    m = map_file(interleave_blob(AU, strips, 10 * AU))
    assert m.devices == {0, 2}
    maps = list(m.spans())
    assert [(x.dev, x.addr) for x in maps[:4]] == [
        (0, 10 * AU), (0, 40 * AU), (2, 70 * AU), (0, 11 * AU)]
    assert all(x.length == AU for x in maps)
    assert m.begin(3 * AU + 17).addr == 11 * AU + 17


def test_golden_interleaved_file_matches_the_log_entry_math():
    entry = golden_entry(3)
    m = map_file((GOLDEN / "get_fmap_entry3.bin").read_bytes())
    for pos in range(0, entry.size, 65537):
        dev, addr, _ = reference_resolve(entry.fmap, pos)
        assert (m.begin(pos).dev, m.begin(pos).addr) == (dev, addr)


def test_page_sized_chunks_are_resolved():
    m = map_file(interleave_blob(4096, [(0, 10 * AU, AU), (0, 20 * AU, AU)], 3 * 4096))
    assert [(x.addr, x.length) for x in m.spans()] == [
        (10 * AU, 4096), (20 * AU, 4096), (10 * AU + 4096, 4096)]


@pytest.mark.parametrize("blob", [
    simple_blob([(0, (20 + 3 * i) * AU, 2 * AU) for i in range(7)], 13 * AU + 7),
    simple_blob([(0, (20 + 5 * i) * AU, (i % 3 + 1) * AU) for i in range(9)], 17 * AU),
    interleave_blob(AU, [(0, 10 * AU, 4 * AU), (0, 40 * AU, 4 * AU), (2, 70 * AU, 4 * AU)],
                    11 * AU + 3),
])
def test_batched_resolve_equals_begin_at_every_offset(blob):
    m = map_file(blob)
    positions = np.random.default_rng(1).integers(0, m.size, 2000)
    dev, addr, run = m.resolve_many(positions)
    rows = zip(positions.tolist(), dev.tolist(), addr.tolist(), run.tolist(), strict=True)
    for p, d, a, r in rows:
        got = m.begin(p)
        assert (got.dev, got.addr, got.length) == (d, a, r)


def test_batched_resolve_past_eof_is_an_error():
    m = map_file(simple_blob([(0, 10 * AU, AU)], AU))
    with pytest.raises(MappingError):
        m.resolve_many(np.array([0, AU]))


def test_metadata_accessor_refuses_reads_outside_the_metadata():
    view = MetaView(bytes(16))
    with pytest.raises(MappingError, match="outside"):
        view.unpack(struct.Struct("<QQQ"), 0)
    with pytest.raises(MappingError, match="outside"):
        view.unpack(struct.Struct("<Q"), -8)
    with pytest.raises(MappingError, match="outside"):
        view.array(np.uint64, 8, 2)
    assert view.read(8, 8) == bytes(8)


@given(pos=st.integers(0, 3 * 5 * AU - 1))
def test_interleaved_spans_follow_the_reference_address_math(pos: int) -> None:
    strips = [SimpleExtent(0, (20 + 10 * i) * MiB, 5 * AU) for i in range(3)]
    m = map_file(encode_get_fmap(FileEntry("f", 15 * AU, FileMap.interleaved(AU, strips))))
    chunk, within = divmod(pos, AU)
    stripe, strip = divmod(chunk, 3)
    first = next(m.spans(pos))
    assert (first.offset, first.dev) == (pos, 0)
    assert first.addr == strips[strip].offset + stripe * AU + within
    assert first.length == AU - within


@given(pos=st.integers(0, 6 * AU - 1), length=st.integers(1, 6 * AU))
def test_simple_spans_walk_the_extents_and_stop_at_the_end(pos: int, length: int) -> None:
    exts = [SimpleExtent(0, 40 * MiB, 2 * AU), SimpleExtent(0, 12 * MiB, 4 * AU)]
    m = map_file(encode_get_fmap(FileEntry("f", 6 * AU, FileMap.simple(exts))))
    runs = list(m.spans(pos, length))
    assert runs[0].offset == pos
    assert sum(r.length for r in runs) == min(length, 6 * AU - pos)
    assert all(a.end == b.offset for a, b in zip(runs, runs[1:], strict=False))
    for r in runs:
        assert (r.dev, r.addr) == reference_resolve(FileMap.simple(exts), r.offset)[:2]
