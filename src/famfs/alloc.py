"""The space allocator: a bitmap of allocation units rebuilt from the log.

Free space is never stored on the device. Each device index has a bitmap with one byte per AU
(1 = used); the superblock and log AUs of device 0 are pre-set. Allocation is first fit for
contiguous files and bucketed for interleaved files, as the reference does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from famfs.errors import NoSpaceError, UsageError
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import MAX_STRIPS, GiB, data_start, is_power_of_two

MAX_BUCKETS = 64
MIN_BUCKET_SIZE = 1 * GiB


@dataclass(frozen=True)
class Collision:
    """An AU claimed by two log entries: a cross-link."""

    devindex: int
    offset: int
    entry_index: int


@dataclass(frozen=True)
class InterleaveParams:
    """Interleaved allocation: `nstrips` strips in distinct buckets of `nbuckets`, filled
    `chunk_size` bytes at a time."""

    nbuckets: int
    nstrips: int
    chunk_size: int

    def check(self, device_size: int, alloc_unit: int, min_bucket: int = MIN_BUCKET_SIZE) -> None:
        """Raise UsageError naming the parameter that breaks the reference's rules."""
        if not 1 <= self.nbuckets <= MAX_BUCKETS:
            raise UsageError(f"nbuckets {self.nbuckets} must be between 1 and {MAX_BUCKETS}")
        if not 1 <= self.nstrips <= min(self.nbuckets, MAX_STRIPS):
            raise UsageError(f"nstrips {self.nstrips} must be between 1 and "
                             f"min(nbuckets, {MAX_STRIPS}) = {min(self.nbuckets, MAX_STRIPS)}")
        if not is_power_of_two(self.chunk_size) or self.chunk_size % alloc_unit:
            raise UsageError(f"chunk size {self.chunk_size:#x} must be a power of two and a "
                             f"multiple of the allocation unit ({alloc_unit:#x})")
        bucket = device_size // self.nbuckets
        if bucket < min_bucket:
            raise UsageError(f"{self.nbuckets} buckets of {bucket:#x} bytes: each bucket must be "
                             f"at least {min_bucket:#x} bytes")


class Allocator:
    """Bitmaps of used AUs, one per device index, over each device's recorded size."""

    def __init__(self, device_size: int, log_len: int, alloc_unit: int) -> None:
        self.alloc_unit = alloc_unit
        self.maps: dict[int, bytearray] = {}
        self.sizes: dict[int, int] = {}
        self.collisions: list[Collision] = []
        self._first_free: dict[int, int] = {}
        self.add_device(0, device_size)
        reserved = data_start(log_len) // alloc_unit
        bitmap = self.maps[0]
        bitmap[:reserved] = b"\1" * min(reserved, len(bitmap))
        self._first_free[0] = min(reserved, len(bitmap))

    def add_device(self, devindex: int, size: int) -> None:
        """Track device `devindex` of `size` bytes (a no-op if known)."""
        if devindex not in self.maps:
            self.maps[devindex] = bytearray(size // self.alloc_unit)
            self.sizes[devindex] = size
            self._first_free[devindex] = 0

    def mark(self, fmap: FileMap, entry_index: int) -> list[Collision]:
        """Mark every extent of `fmap` used; return (and record) AUs that were used already."""
        found = []
        au = self.alloc_unit
        for ext in fmap.all_extents():
            bitmap = self.maps[ext.devindex]
            first = ext.offset // au
            last = first + -(-ext.length // au)
            if bitmap.find(1, first, last) >= 0:
                for i in range(first, last):
                    if bitmap[i]:
                        found.append(Collision(ext.devindex, i * au, entry_index))
            bitmap[first:last] = b"\1" * (last - first)
        self.collisions.extend(found)
        return found

    def checkpoint(self) -> tuple[dict[int, bytearray], dict[int, int]]:
        """A copy of the allocation state, for `rollback` when a batch fails."""
        return {k: bytearray(v) for k, v in self.maps.items()}, dict(self._first_free)

    def rollback(self, checkpoint: tuple[dict[int, bytearray], dict[int, int]]) -> None:
        """Return to the state of `checkpoint`: what was allocated since is free again."""
        maps, first_free = checkpoint
        self.maps, self._first_free = maps, first_free

    def capacity(self) -> int:
        """Bytes of all devices, including superblock and log."""
        return sum(self.sizes.values())

    def used(self) -> int:
        """Bytes in used AUs (superblock and log included)."""
        return sum(b.count(1) for b in self.maps.values()) * self.alloc_unit

    def free(self) -> int:
        return self.capacity() - self.used()

    def _find(self, devindex: int, nau: int, lo: int = 0, hi: int | None = None) -> int:
        bitmap = self.maps[devindex]
        if nau > len(bitmap):
            return -1
        start = max(lo, self._first_free[devindex])
        return bitmap.find(bytes(nau), start, len(bitmap) if hi is None else hi)

    def _take(self, devindex: int, first: int, nau: int) -> None:
        bitmap = self.maps[devindex]
        bitmap[first:first + nau] = b"\1" * nau
        if first == self._first_free[devindex]:
            nxt = bitmap.find(0, first + nau)
            self._first_free[devindex] = len(bitmap) if nxt < 0 else nxt

    def alloc_contiguous(self, size: int, devindex: int = 0) -> FileMap:
        """First fit of `size` bytes (rounded up to AUs): one simple extent."""
        if size <= 0:
            raise UsageError(f"file size {size} must be positive")
        au = self.alloc_unit
        nau = -(-size // au)
        first = self._find(devindex, nau)
        if first < 0:
            raise NoSpaceError(f"no {nau} contiguous free allocation units ({nau * au} bytes) "
                               f"on device {devindex}: {self.free()} bytes free in all")
        self._take(devindex, first, nau)
        return FileMap.simple([SimpleExtent(devindex, first * au, nau * au)])

    def alloc_interleaved(self, size: int, params: InterleaveParams,
                          rng: random.Random | None = None) -> FileMap:
        """Strips of `ceil(size_AU / (nstrips*chunk_AU)) * chunk_size` bytes in distinct
        buckets (chosen at random, as the reference does). A file smaller than one chunk is
        allocated contiguously. On failure nothing stays taken."""
        if size < params.chunk_size:
            return self.alloc_contiguous(size)
        au = self.alloc_unit
        chunk_au = params.chunk_size // au
        size_au = -(-size // au)
        strip_au = -(-size_au // (params.nstrips * chunk_au)) * chunk_au
        nau_dev = len(self.maps[0])
        bucket_au = nau_dev // params.nbuckets
        if strip_au > bucket_au:
            raise NoSpaceError(f"a strip of {strip_au * au} bytes does not fit in a bucket of "
                               f"{bucket_au * au} bytes")
        order = list(range(params.nbuckets))
        (rng or random).shuffle(order)
        taken: list[int] = []
        for bucket in order:
            lo, hi = bucket * bucket_au, (bucket + 1) * bucket_au
            bitmap = self.maps[0]
            pos = bitmap.find(bytes(strip_au), lo, hi)
            if pos < 0:
                continue
            bitmap[pos:pos + strip_au] = b"\1" * strip_au
            taken.append(pos)
            if len(taken) == params.nstrips:
                break
        if len(taken) < params.nstrips:
            for pos in taken:
                self.maps[0][pos:pos + strip_au] = bytes(strip_au)
            raise NoSpaceError(f"only {len(taken)} of {params.nbuckets} buckets have "
                               f"{strip_au * au} free contiguous bytes; {params.nstrips} strips "
                               f"needed")
        nxt = self.maps[0].find(0, self._first_free[0])
        self._first_free[0] = nau_dev if nxt < 0 else nxt
        strips = [SimpleExtent(0, pos * au, strip_au * au) for pos in taken]
        return FileMap.interleaved(params.chunk_size, strips)
