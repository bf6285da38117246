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
# A state is a vector of 128 bits: bit k of s0 is component k, bit k of s1 is component 64+k;
# a batch of K states is a (K, 2) uint64 array. A matrix is kept as its 128 columns (the
# images of the basis vectors, (128, 2) uint64) plus, for applying it, 16 tables of 256
# entries: the image of every value of each state byte. Applying a matrix is one gather and
# an XOR-reduction; no floating point or BLAS (whose threads stall on a busy machine).

class _Matrix:
    """A 128x128 matrix over GF(2)."""

    def __init__(self, cols: np.ndarray) -> None:
        self.cols = cols
        tables = np.zeros((16, 256, 2), dtype=np.uint64)
        by_byte = cols.reshape(16, 8, 2)
        for bit in range(8):
            lo, hi = 1 << bit, 2 << bit
            tables[:, lo:hi] = tables[:, :lo] ^ by_byte[:, bit][:, None, :]
        self.tables = tables

    def apply(self, states: np.ndarray) -> np.ndarray:
        """The (K, 2) uint64 batch `states` mapped by this matrix."""
        octets = np.ascontiguousarray(states, dtype="<u8").view(np.uint8).reshape(-1, 16)
        picked = self.tables[np.arange(16), octets]
        return np.bitwise_xor.reduce(picked, axis=1)

    def after(self, other: _Matrix) -> _Matrix:
        """self . other (apply `other` first)."""
        return _Matrix(self.apply(other.cols))


def _transition() -> _Matrix:
    cols = np.zeros((128, 2), dtype=np.uint64)
    for k in range(128):
        s0, s1 = (1 << k, 0) if k < 64 else (0, 1 << (k - 64))
        cols[k] = step(s0, s1)
    return _Matrix(cols)


class _Jumps:
    """A^(2^k), built on demand, and A^n for the strides lanes are placed at (cached)."""

    CACHE = 256

    def __init__(self) -> None:
        self.powers = [_transition()]
        self.cache: dict[int, _Matrix] = {}
        self.lock = threading.Lock()

    def power(self, k: int) -> _Matrix:
        """A^(2^k)."""
        with self.lock:
            while len(self.powers) <= k:
                self.powers.append(self.powers[-1].after(self.powers[-1]))
            return self.powers[k]

    def matrix(self, n: int) -> _Matrix:
        """A^n (n >= 1)."""
        with self.lock:
            found = self.cache.get(n)
        if found is not None:
            return found
        result = None
        k, rest = 0, n
        while rest:
            if rest & 1:
                p = self.power(k)
                result = p if result is None else p.after(result)
            rest >>= 1
            k += 1
        assert result is not None, "A^0 is never needed"
        with self.lock:
            if len(self.cache) >= self.CACHE:
                self.cache.clear()
            self.cache[n] = result
        return result

    def advance(self, states: np.ndarray, n: int) -> np.ndarray:
        """The batch `states` moved n outputs ahead, one power at a time."""
        k = 0
        while n:
            if n & 1:
                states = self.power(k).apply(states)
            n >>= 1
            k += 1
        return states


_jumps = _Jumps()


def state_at(seed: int, index: int) -> tuple[int, int]:
    """The state before output `index` of the stream of `seed` (scalar ints)."""
    s0, s1 = seed_state(seed)
    if index == 0:
        return s0, s1
    moved = _jumps.advance(np.array([[s0, s1]], dtype=np.uint64), index)
    return int(moved[0, 0]), int(moved[0, 1])


def _lane_states(seed: int, first: int, lanes: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """States (s0, s1 arrays) of `lanes` lanes placed at outputs first + j*stride, by
    doubling: lanes [n, 2n) are lanes [0, n) moved n*stride ahead."""
    states = np.array([state_at(seed, first)], dtype=np.uint64)
    shift = 0
    while len(states) < lanes:
        states = np.concatenate([states, _jumps.matrix(stride << shift).apply(states)])
        shift += 1
    return states[:lanes, 0].copy(), states[:lanes, 1].copy()


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


def _piecewise(pieces: Sequence[tuple[int, memoryview]],
               seed: int) -> Iterator[tuple[int, memoryview, memoryview | None]]:
    """(file_offset, view, pattern) for each piece, in order. `pattern` is None for a long
    piece (the caller works on it in place); short ones (an interleaved file's chunks) get
    their part of a scratch window generated at once, since placing the lanes costs about as
    much as generating a few MiB."""
    check_seed(seed)
    scratch: bytearray | None = None
    for start, end, group in _windows(pieces):
        if len(group) == 1:
            off, view = pieces[group[0]]
            yield off, view, None
            continue
        if scratch is None:
            scratch = bytearray(WINDOW)
        window = memoryview(scratch)[:end - start]
        fill(window, seed, start)
        for i in group:
            off, view = pieces[i]
            yield off, view, window[off - start:off - start + len(view)]


def fill_pieces(pieces: Sequence[tuple[int, memoryview]], seed: int) -> None:
    """Fill each (file_offset, view) piece with its part of the pattern of `seed`."""
    for off, view, want in _piecewise(pieces, seed):
        if want is None:
            fill(view, seed, off)
        else:
            view[:] = want


def first_mismatch_pieces(pieces: Sequence[tuple[int, memoryview]], seed: int) -> int | None:
    """File offset of the first byte of the pieces (file_offset, view), taken in order, that
    differs from the pattern of `seed`, or None."""
    for off, view, want in _piecewise(pieces, seed):
        if want is not None and _same(view, want):
            continue
        bad = first_mismatch(view, seed, off)
        if bad is not None:
            return off + bad
    return None
