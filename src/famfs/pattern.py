"""The verify pattern of `famfs creat -r -S SEED` and `famfs verify -S SEED`, byte for byte.

The reference tools fill a file with a seeded stream: the seed is truncated to 32 bits;
splitmix64 seeded with it yields the two state words of xoroshiro128+ (the 2016 version,
rotations 55, 14, 36); output `i` is `s0 + s1` before step `i`, and its low 32 bits are stored
little-endian at bytes [4i, 4i + 4). A file of size S holds the first S bytes of that stream
(a tail of fewer than 4 bytes takes the low bytes of the next output). The stream starts at
file offset 0 and never restarts.

Python cannot step the generator once per output at hundreds of MB/s, so the stream is cut
into many lanes stepped together with NumPy: the xoroshiro128+ transition is linear over
GF(2), so the state `n` outputs ahead is a 128x128 bit matrix (A^n, built by repeated
squaring) times the state, which places lane `j` at output `i0 + j*M` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from famfs.errors import UsageError

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15

LANES = 8192
"""Lanes stepped together (state arrays of 64 KiB each: they stay in cache)."""
ROWS = 16
"""Steps gathered before one transposed store into the destination."""
SCALAR_BELOW = 64
"""Runs shorter than this many outputs are generated one output at a time."""


# --- the scalar generator (the definition) ------------------------------------------------

def seed_state(seed: int) -> tuple[int, int]:
    """The xoroshiro128+ state (s0, s1) for `seed`, truncated to 32 bits like the reference."""
    x = seed & 0xFFFFFFFF
    words = []
    for _ in range(2):
        x = (x + GOLDEN_GAMMA) & MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        words.append(z ^ (z >> 31))
    return words[0], words[1]


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


def step(s0: int, s1: int) -> tuple[int, int]:
    """One xoroshiro128+ transition (the output, s0 + s1, is taken before it)."""
    s1 ^= s0
    return _rotl(s0, 55) ^ s1 ^ ((s1 << 14) & MASK64), _rotl(s1, 36)


def check_seed(seed: int) -> int:
    """`seed` truncated to 32 bits; UsageError if that is 0 (the reference then picks a
    random seed, so such a file could never be verified)."""
    if seed < 0:
        raise UsageError(f"seed {seed} must not be negative")
    if seed & 0xFFFFFFFF == 0:
        raise UsageError(f"seed {seed:#x} is 0 in its low 32 bits; the reference treats that "
                         f"as 'pick a random seed', so it cannot be used for a verifiable file")
    return seed & 0xFFFFFFFF


# --- GF(2) jump matrices ------------------------------------------------------------------
# A state is a vector of 128 bits: bit k of s0 is component k, bit k of s1 is component 64+k.
# Matrices are float32 arrays (exact: sums never exceed 128); y = (M @ x) mod 2.

def _transition_matrix() -> np.ndarray:
    cols = np.zeros((128, 128), dtype=np.float32)
    for k in range(128):
        s0, s1 = (1 << k, 0) if k < 64 else (0, 1 << (k - 64))
        n0, n1 = step(s0, s1)
        v = n0 | (n1 << 64)
        cols[:, k] = [(v >> i) & 1 for i in range(128)]
    return cols


def _matmul2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.mod(a @ b, 2.0, dtype=np.float32)


class _Jumps:
    """A^(2^k) for k = 0..63, built once."""

    def __init__(self) -> None:
        powers = [_transition_matrix()]
        for _ in range(63):
            powers.append(_matmul2(powers[-1], powers[-1]))
        self.powers = powers

    def matrix(self, n: int) -> np.ndarray:
        """A^n (n >= 0)."""
        result = np.eye(128, dtype=np.float32)
        k = 0
        while n:
            if n & 1:
                result = _matmul2(self.powers[k], result)
            n >>= 1
            k += 1
        return result


_jumps: _Jumps | None = None
_jumps_lock = threading.Lock()


def _get_jumps() -> _Jumps:
    global _jumps
    with _jumps_lock:
        if _jumps is None:
            _jumps = _Jumps()
        return _jumps


def _to_bits(s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """(K, 128) float32 bit matrix of K states."""
    words = np.empty((len(s0), 2), dtype="<u8")
    words[:, 0] = s0
    words[:, 1] = s1
    bits = np.unpackbits(words.view(np.uint8).reshape(-1, 16), axis=1, bitorder="little")
    return bits.astype(np.float32)


def _from_bits(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    packed = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")
    words = np.ascontiguousarray(packed).view("<u8").reshape(-1, 2)
    return words[:, 0].copy(), words[:, 1].copy()


def _apply(matrix: np.ndarray, bits: np.ndarray) -> np.ndarray:
    return np.mod(bits @ matrix.T, 2.0, dtype=np.float32)


def state_at(seed: int, index: int) -> tuple[int, int]:
    """The state before output `index` of the stream of `seed` (scalar ints)."""
    s0, s1 = seed_state(seed)
    if index == 0:
        return s0, s1
    bits = _to_bits(np.array([s0], dtype=np.uint64), np.array([s1], dtype=np.uint64))
    r0, r1 = _from_bits(_apply(_get_jumps().matrix(index), bits))
    return int(r0[0]), int(r1[0])


def _lane_states(seed: int, first: int, lanes: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """States of `lanes` lanes placed at outputs first + j*stride (by doubling)."""
    s0, s1 = state_at(seed, first)
    bits = _to_bits(np.array([s0], dtype=np.uint64), np.array([s1], dtype=np.uint64))
    jump = _get_jumps().matrix(stride)
    while len(bits) < lanes:
        bits = np.concatenate([bits, _apply(jump, bits)])
        jump = _matmul2(jump, jump)
    return _from_bits(bits[:lanes])


# --- vectorized generation ----------------------------------------------------------------

def _outputs_scalar(first: int, count: int, seed: int) -> np.ndarray:
    s0, s1 = state_at(seed, first)
    out = np.empty(count, dtype="<u4")
    for i in range(count):
        out[i] = (s0 + s1) & 0xFFFFFFFF
        s0, s1 = step(s0, s1)
    return out


def _first_difference(have: np.ndarray, want: np.ndarray) -> int | None:
    if np.array_equal(have, want):
        return None
    return int(np.argmax(have != want))


def _block(grid: np.ndarray, seed: int, first: int, verify: bool) -> int | None:
    """Fill (or, with `verify`, check) `grid`, a (lanes, steps) uint32 view of outputs
    [first, first + lanes*steps), lane j holding the run [j*steps, (j+1)*steps).

    All lanes are stepped together; ROWS steps are gathered and then stored (or compared)
    with one transposed copy, since a strided store per step would be far slower.
    Returns, when verifying, the index (relative to grid[0, 0]) of some mismatching output
    such that no earlier output is known to mismatch, or None.
    """
    lanes, steps = grid.shape
    s0, s1 = _lane_states(seed, first, lanes, steps)
    rows = np.empty((ROWS, lanes), dtype=np.uint32)
    t = np.empty(lanes, dtype=np.uint64)
    add, xor, orr = np.add, np.bitwise_xor, np.bitwise_or
    shl, shr = np.left_shift, np.right_shift
    c9, c14, c28, c36, c55 = (np.uint64(c) for c in (9, 14, 28, 36, 55))
    for base in range(0, steps, ROWS):
        count = min(ROWS, steps - base)
        for row in range(count):
            add(s0, s1, out=rows[row], casting="unsafe")
            xor(s1, s0, out=s1)
            shl(s0, c55, out=t)
            shr(s0, c9, out=s0)
            orr(s0, t, out=s0)
            xor(s0, s1, out=s0)
            shl(s1, c14, out=t)
            xor(s0, t, out=s0)
            shl(s1, c36, out=t)
            shr(s1, c28, out=s1)
            orr(s1, t, out=s1)
        cells = grid[:, base:base + count]
        if not verify:
            cells[...] = rows[:count].T
        elif not np.array_equal(cells, rows[:count].T):
            bad = np.argwhere(cells != rows[:count].T)[0]
            return int(bad[0]) * steps + base + int(bad[1])
    return None


def _run(dst: np.ndarray, seed: int, first: int, verify: bool) -> int | None:
    """Fill or verify outputs [first, first + len(dst)) in `dst` (1-D uint32); when verifying,
    return the index in `dst` of the first mismatching output, or None."""
    pos = 0
    n = len(dst)
    while pos < n:
        left = n - pos
        if left < SCALAR_BELOW:
            want = _outputs_scalar(first + pos, left, seed)
            if not verify:
                dst[pos:] = want
                return None
            bad = _first_difference(dst[pos:], want)
            return None if bad is None else pos + bad
        lanes = LANES if left >= LANES * ROWS else max(1, left // ROWS)
        steps = left // lanes
        count = lanes * steps
        found = _block(dst[pos:pos + count].reshape(lanes, steps), seed, first + pos, verify)
        if found is not None:
            # Lanes run side by side, so an earlier lane may hold an earlier mismatch: the
            # first one is in the (strictly shorter) prefix up to `found`, or is `found`.
            earlier = _run(dst[pos:pos + found], seed, first + pos, True) if found else None
            return pos + (found if earlier is None else earlier)
        pos += count
    return None


def outputs_into(dst: np.ndarray, seed: int, first: int) -> None:
    """Low 32 bits of outputs [first, first + len(dst)) of the stream of `seed` into `dst`
    (a 1-D uint32 array, possibly a view of a mapping)."""
    _run(dst, check_seed(seed), first, verify=False)


# --- byte-level API -----------------------------------------------------------------------

def _word(seed: int, index: int) -> bytes:
    return int(_outputs_scalar(index, 1, seed)[0]).to_bytes(4, "little")


def _edges(n: int, offset: int) -> tuple[int, int, int]:
    """Split a buffer of n bytes at file offset `offset` into (head, words, tail): bytes
    before the first whole output, whole outputs, and bytes after the last."""
    head = min((-offset) % 4, n)
    words = (n - head) // 4
    return head, words, n - head - 4 * words


def fill(buf: Any, seed: int, offset: int = 0) -> None:
    """Write bytes [offset, offset + len(buf)) of the pattern of `seed` into `buf` (any
    writable buffer; `offset` is the file offset of buf[0], in bytes)."""
    mv = memoryview(buf).cast("B")
    n = len(mv)
    if n == 0:
        return
    seed = check_seed(seed)
    head, words, tail = _edges(n, offset)
    if head:
        mv[:head] = _word(seed, offset // 4)[offset % 4:offset % 4 + head]
    if words:
        _run(np.frombuffer(mv[head:head + 4 * words], dtype="<u4"), seed,
             (offset + head) // 4, verify=False)
    if tail:
        mv[n - tail:] = _word(seed, (offset + head) // 4 + words)[:tail]


def pattern_bytes(seed: int, length: int, offset: int = 0) -> bytes:
    """`length` bytes of the pattern of `seed` from file offset `offset`."""
    out = bytearray(length)
    fill(out, seed, offset)
    return bytes(out)


def first_mismatch(buf: Any, seed: int, offset: int = 0) -> int | None:
    """Offset (relative to buf[0], in bytes) of the first byte of `buf` that differs from the
    pattern of `seed` at file offset `offset`, or None if every byte matches. Reads `buf` in
    place; no copy of it is made."""
    mv = memoryview(buf).cast("B")
    n = len(mv)
    seed = check_seed(seed)
    if n == 0:
        return None
    head, words, tail = _edges(n, offset)

    def bytes_differ(at: int, have: memoryview, want: bytes) -> int | None:
        for i, (a, b) in enumerate(zip(have, want, strict=True)):
            if a != b:
                return at + i
        return None

    if head:
        bad = bytes_differ(0, mv[:head], _word(seed, offset // 4)[offset % 4:offset % 4 + head])
        if bad is not None:
            return bad
    if words:
        found = _run(np.frombuffer(mv[head:head + 4 * words], dtype="<u4"), seed,
                     (offset + head) // 4, verify=True)
        if found is not None:
            at = head + 4 * found
            return bytes_differ(at, mv[at:at + 4], _word(seed, (offset + at) // 4))
    if tail:
        return bytes_differ(n - tail, mv[n - tail:],
                            _word(seed, (offset + head) // 4 + words)[:tail])
    return None


# --- files made of several device runs ----------------------------------------------------

WINDOW = 64 * 1024 * 1024
"""Bytes of the stream generated at once for files whose device runs are short."""


def _same(a: memoryview, b: memoryview) -> bool:
    if len(a) % 8 == 0:
        return bool(np.array_equal(np.frombuffer(a, dtype=np.uint64),
                                   np.frombuffer(b, dtype=np.uint64)))
    return a == b


def _windows(pieces: Sequence[tuple[int, memoryview]]) -> Iterator[tuple[int, int, list[int]]]:
    """Group consecutive pieces into windows (start, end, piece indices) of about WINDOW
    bytes of file range."""
    group: list[int] = []
    start = end = 0
    for i, (off, view) in enumerate(pieces):
        if group and (off != end or off + len(view) - start > WINDOW):
            yield start, end, group
            group = []
        if not group:
            start = off
        group.append(i)
        end = off + len(view)
    if group:
        yield start, end, group


def fill_pieces(pieces: Sequence[tuple[int, memoryview]], seed: int) -> None:
    """Fill each (file_offset, view) piece with its part of the pattern of `seed`. Long pieces
    are filled in place; short ones (an interleaved file's chunks) through a scratch window,
    since placing the lanes costs about as much as generating a few MiB."""
    check_seed(seed)
    scratch: bytearray | None = None
    for start, end, group in _windows(pieces):
        if len(group) == 1:
            off, view = pieces[group[0]]
            fill(view, seed, off)
            continue
        if scratch is None:
            scratch = bytearray(WINDOW)
        window = memoryview(scratch)[:end - start]
        fill(window, seed, start)
        for i in group:
            off, view = pieces[i]
            view[:] = window[off - start:off - start + len(view)]


def first_mismatch_pieces(pieces: Sequence[tuple[int, memoryview]], seed: int) -> int | None:
    """File offset of the first byte of the pieces (file_offset, view), taken in order, that
    differs from the pattern of `seed`, or None."""
    check_seed(seed)
    scratch: bytearray | None = None
    for start, end, group in _windows(pieces):
        if len(group) == 1:
            off, view = pieces[group[0]]
            bad = first_mismatch(view, seed, off)
            if bad is not None:
                return off + bad
            continue
        if scratch is None:
            scratch = bytearray(WINDOW)
        window = memoryview(scratch)[:end - start]
        fill(window, seed, start)
        for i in group:
            off, view = pieces[i]
            want = window[off - start:off - start + len(view)]
            if not _same(view, want):
                bad = first_mismatch(view, seed, off)
                return off + (bad if bad is not None else 0)
    return None
