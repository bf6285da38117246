"""The verify pattern matches a plain scalar reference, byte for byte, at any offset and size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famfs import pattern
from famfs.errors import UsageError

M64 = (1 << 64) - 1


def reference_stream(seed: int, length: int) -> bytes:
    """The reference's randomize_buffer, written out one output at a time."""
    x = seed & 0xFFFFFFFF
    state = []
    for _ in range(2):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        state.append(z ^ (z >> 31))
    s0, s1 = state
    out = bytearray()
    while len(out) < length:
        out += ((s0 + s1) & 0xFFFFFFFF).to_bytes(4, "little")
        s1 ^= s0
        s0 = (((s0 << 55) | (s0 >> 9)) & M64) ^ s1 ^ ((s1 << 14) & M64)
        s1 = ((s1 << 36) | (s1 >> 28)) & M64
    return bytes(out[:length])


def test_splitmix64_first_word_matches_the_published_vector() -> None:
    # splitmix64 seeded with 0 yields 0xe220a8397b1dcdaf first (the published test value).
    assert pattern.seed_state(0)[0] == 0xE220A8397B1DCDAF


def test_seed_is_truncated_to_32_bits() -> None:
    assert pattern.pattern_bytes(5 + (7 << 32), 64) == pattern.pattern_bytes(5, 64)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 1000, 4099])
def test_small_sizes_match_the_reference(size: int) -> None:
    assert pattern.pattern_bytes(42, size) == reference_stream(42, size)


def test_sizes_spanning_several_vectorized_blocks_match_the_reference() -> None:
    size = pattern.LANES * pattern.ROWS * 4 * 3 + 4 * 1234 + 3
    assert pattern.pattern_bytes(7, size) == reference_stream(7, size)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(1, 2**64 - 1).filter(lambda s: s & 0xFFFFFFFF),
       offset=st.integers(0, 3000), size=st.integers(0, 5000))
def test_any_window_of_the_stream_matches_the_reference(seed: int, offset: int,
                                                        size: int) -> None:
    assert pattern.pattern_bytes(seed, size, offset) == \
        reference_stream(seed, offset + size)[offset:]


def test_far_offsets_use_jumps_consistent_with_stepping() -> None:
    index = 123_457
    s0, s1 = pattern.seed_state(9)
    for _ in range(index):
        s0, s1 = pattern.step(s0, s1)
    assert pattern.state_at(9, index) == (s0, s1)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, 200_000), min_size=1, max_size=6))
def test_filling_piecewise_equals_filling_at_once(cuts: list[int]) -> None:
    size = 200_003
    whole = pattern.pattern_bytes(11, size)
    buf = bytearray(size)
    edges = sorted({0, size, *cuts})
    for lo, hi in zip(edges, edges[1:], strict=False):
        pattern.fill(memoryview(buf)[lo:hi], 11, lo)
    assert bytes(buf) == whole


def test_verify_accepts_the_pattern() -> None:
    data = pattern.pattern_bytes(3, 1_000_001)
    assert pattern.first_mismatch(data, 3) is None


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 300_000), data=st.data())
def test_verify_reports_the_first_corrupted_byte(size: int, data: st.DataObject) -> None:
    buf = bytearray(pattern.pattern_bytes(5, size))
    bad = sorted(set(data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4))))
    for pos in bad:
        buf[pos] ^= 0x5A
    assert pattern.first_mismatch(buf, 5) == bad[0]


def test_verify_at_an_offset_reports_positions_relative_to_the_buffer() -> None:
    buf = bytearray(pattern.pattern_bytes(5, 10_000, offset=6))
    assert pattern.first_mismatch(buf, 5, offset=6) is None
    buf[4321] ^= 1
    assert pattern.first_mismatch(buf, 5, offset=6) == 4321


def test_a_later_lane_mismatch_does_not_hide_an_earlier_one() -> None:
    size = pattern.LANES * pattern.ROWS * 4 * 2
    buf = bytearray(pattern.pattern_bytes(8, size))
    buf[size - 10] ^= 1  # last lane, first slab
    buf[size // 2 - 5] ^= 1  # an earlier lane, a later slab
    assert pattern.first_mismatch(buf, 8) == size // 2 - 5


def test_other_seed_does_not_verify() -> None:
    assert pattern.first_mismatch(pattern.pattern_bytes(1, 4096), 2) == 0


@pytest.mark.parametrize("seed", [0, 1 << 32])
def test_seed_zero_in_its_low_32_bits_is_refused(seed: int) -> None:
    with pytest.raises(UsageError, match="low 32 bits"):
        pattern.fill(bytearray(8), seed)
