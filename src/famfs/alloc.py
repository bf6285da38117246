"""The space allocator: which allocation units (AUs) of each device are in use, rebuilt from the
log, and where new files go.

Free space is never stored on the device. Each device index has a `SpaceMap`: its used AUs as
sorted, disjoint, coalesced runs, so memory grows with the number of runs in use, never with
the capacity a device claims. The superblock and log AUs of device 0 are used from the start, and
the superblock region of every other device. Allocation is first fit on a device. The policies
of a multi-device filesystem (the multi-daxdev roadmap's Phase 10): a contiguous file goes on the
first device of a given order that has room (the caller shuffles the order: a random device,
the others in random order on ENOSPC); an interleaved file puts one strip on each of `nstrips`
distinct devices, again in the given order. On one device, interleaved files are bucketed as the
reference does. Allocation never changes the maps by itself: the caller passes what else is
taken (space held for files not yet logged, see famfs.holds) and marks a file's extents used when
its entry is logged.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from famfs.errors import NoSpaceError, UsageError
from famfs.omf.fmap import MAX_CHUNK_SIZE, FileMap, SimpleExtent
from famfs.omf.layout import MAX_STRIPS, SUPERBLOCK_REGION, GiB, data_start, is_power_of_two

MAX_BUCKETS = 64
MIN_BUCKET_SIZE = 1 * GiB


@dataclass(frozen=True)
class Collision:
    """AUs claimed by two log entries (a cross-link): `length` bytes from byte `offset` of
    device `devindex`, claimed again by entry `entry_index`."""

    devindex: int
    offset: int
    entry_index: int
    length: int = 0


class SpaceMap:
    """Used AUs of one device of `aus` AUs, as sorted, disjoint, coalesced [start, end) runs."""

    __slots__ = ("aus", "starts", "ends")

    def __init__(self, aus: int) -> None:
        self.aus = aus
        self.starts: list[int] = []
        self.ends: list[int] = []

    def __len__(self) -> int:
        return len(self.starts)

    def used(self) -> int:
        """AUs in use."""
        return sum(self.ends) - sum(self.starts)

    def runs(self) -> list[tuple[int, int]]:
        """The used runs, as (first AU, end AU)."""
        return list(zip(self.starts, self.ends, strict=True))

    def overlaps(self, first: int, end: int) -> list[tuple[int, int]]:
        """The parts of [first, end) already in use."""
        out = []
        i = bisect.bisect_right(self.starts, first) - 1
        if i < 0:
            i = 0
        n = len(self.starts)
        while i < n and self.starts[i] < end:
            lo, hi = max(first, self.starts[i]), min(end, self.ends[i])
            if lo < hi:
                out.append((lo, hi))
            i += 1
        return out

    def add(self, first: int, end: int) -> None:
        """Mark [first, end) used (parts already used stay so)."""
        if first >= end:
            return
        starts, ends = self.starts, self.ends
        if not starts or first > ends[-1]:
            starts.append(first)
            ends.append(end)
            return
        if first == ends[-1]:
            ends[-1] = max(ends[-1], end)
            return
        lo = bisect.bisect_left(ends, first)
        hi = bisect.bisect_right(starts, end)
        if lo < hi:
            first = min(first, starts[lo])
            end = max(end, ends[hi - 1])
        starts[lo:hi] = [first]
        ends[lo:hi] = [end]

    def blocking_end(self, first: int, end: int) -> int:
        """The end of the last used run that meets [first, end), or -1 if none does."""
        i = bisect.bisect_left(self.starts, end) - 1
        if i >= 0 and self.ends[i] > first:
            return self.ends[i]
        return -1


def first_fit(maps: Sequence[SpaceMap], nau: int, lo: int, hi: int) -> int:
    """The first AU of the first run of `nau` AUs in [lo, hi) free in every map, or -1."""
    pos = lo
    while pos + nau <= hi:
        block = -1
        for m in maps:
            b = m.blocking_end(pos, pos + nau)
            if b > block:
                block = b
        if block < 0:
            return pos
        pos = block
    return -1


@dataclass(frozen=True)
class InterleaveParams:
    """Interleaved allocation: `nstrips` strips filled `chunk_size` bytes at a time, in distinct
    buckets of `nbuckets` on a single device, or on distinct devices of a multi-device
    filesystem (where `nbuckets` is not used and may be None)."""

    nbuckets: int | None
    nstrips: int
    chunk_size: int

    def check(self, device_size: int, alloc_unit: int, min_bucket: int = MIN_BUCKET_SIZE,
              ndevices: int = 1) -> None:
        """Raise UsageError naming the parameter that breaks the rules: the reference's on a
        single device; on `ndevices` > 1, at most one strip per device."""
        if ndevices > 1:
            if not 1 <= self.nstrips <= min(ndevices, MAX_STRIPS):
                raise UsageError(f"nstrips {self.nstrips} must be between 1 and "
                                 f"min(devices, {MAX_STRIPS}) = {min(ndevices, MAX_STRIPS)}: "
                                 f"each strip goes on its own device")
            self._check_chunk(alloc_unit)
            return
        if self.nbuckets is None:
            raise UsageError("interleaving on a single device needs nbuckets (-B): the strips "
                             "go in distinct buckets of the device")
        if not 1 <= self.nbuckets <= MAX_BUCKETS:
            raise UsageError(f"nbuckets {self.nbuckets} must be between 1 and {MAX_BUCKETS}")
        if not 1 <= self.nstrips <= min(self.nbuckets, MAX_STRIPS):
            raise UsageError(f"nstrips {self.nstrips} must be between 1 and "
                             f"min(nbuckets, {MAX_STRIPS}) = {min(self.nbuckets, MAX_STRIPS)}")
        self._check_chunk(alloc_unit)
        bucket = device_size // self.nbuckets
        if bucket < min_bucket:
            raise UsageError(f"{self.nbuckets} buckets of {bucket:#x} bytes: each bucket must be "
                             f"at least {min_bucket:#x} bytes")

    def _check_chunk(self, alloc_unit: int) -> None:
        if not is_power_of_two(self.chunk_size) or self.chunk_size % alloc_unit:
            raise UsageError(f"chunk size {self.chunk_size:#x} must be a power of two and a "
                             f"multiple of the allocation unit ({alloc_unit:#x})")
        if self.chunk_size > MAX_CHUNK_SIZE:
            raise UsageError(f"chunk size {self.chunk_size:#x} must be at most "
                             f"{MAX_CHUNK_SIZE:#x} (file maps carry it in 32 bits)")


class Allocator:
    """Used AUs of each device index, over each device's size in bytes."""

    def __init__(self, device_size: int, log_len: int, alloc_unit: int) -> None:
        self.alloc_unit = alloc_unit
        self.maps: dict[int, SpaceMap] = {}
        self.sizes: dict[int, int] = {}
        self.collisions: list[Collision] = []
        self.add_device(0, device_size)
        self.maps[0].add(0, min(-(-data_start(log_len) // alloc_unit), self.maps[0].aus))

    def add_device(self, devindex: int, size: int) -> None:
        """Track device `devindex` of `size` bytes (a no-op if known). Every device starts
        with its superblock region in use (offset 0 is never a valid extent offset)."""
        if devindex not in self.maps:
            space = self.maps[devindex] = SpaceMap(size // self.alloc_unit)
            self.sizes[devindex] = size
            space.add(0, min(-(-SUPERBLOCK_REGION // self.alloc_unit), space.aus))

    def aus_of(self, ext: SimpleExtent) -> tuple[int, int]:
        """The [first, end) AUs an extent occupies."""
        au = self.alloc_unit
        first = ext.offset // au
        return first, -(-(ext.offset + ext.length) // au)

    def mark(self, fmap: FileMap, entry_index: int) -> list[Collision]:
        """Mark every extent of `fmap` used; return (and record) the parts used already."""
        found = []
        au = self.alloc_unit
        for ext in fmap.all_extents():
            space = self.maps[ext.devindex]
            first, end = self.aus_of(ext)
            for lo, hi in space.overlaps(first, end):
                found.append(Collision(ext.devindex, lo * au, entry_index, (hi - lo) * au))
            space.add(first, end)
        self.collisions.extend(found)
        return found

    def mark_runs(self, devs: np.ndarray, first: np.ndarray, end: np.ndarray,
                  entries: np.ndarray) -> list[Collision]:
        """Mark AU runs [first[i], end[i]) of device devs[i], claimed by log entry entries[i],
        in that order: the same result as `mark` of each extent in turn. When no run meets
        space already used or another run, the maps are merged in bulk."""
        if not len(devs):
            return []
        plans: list[tuple[SpaceMap, np.ndarray, np.ndarray]] = []
        # The devices present, without np.unique (its first call imports numpy.ma).
        for dev in np.flatnonzero(np.bincount(devs)).tolist():
            sel = devs == dev
            space = self.maps[dev]
            lo = np.concatenate([np.array(space.starts, dtype=np.int64), first[sel]])
            hi = np.concatenate([np.array(space.ends, dtype=np.int64), end[sel]])
            order = np.argsort(lo, kind="stable")
            lo, hi = lo[order], hi[order]
            reach = np.maximum.accumulate(hi)
            if len(lo) > 1 and (lo[1:] < reach[:-1]).any():
                plans = []
                break
            plans.append((space, lo, hi))
        else:
            for space, lo, hi in plans:
                reach = np.maximum.accumulate(hi)
                fresh = np.ones(len(lo), dtype=bool)
                fresh[1:] = lo[1:] > reach[:-1]
                starts = np.flatnonzero(fresh)
                stops = np.append(starts[1:], len(lo)) - 1
                space.starts = lo[starts].tolist()
                space.ends = reach[stops].tolist()
            return []
        found = []
        au = self.alloc_unit
        for dev, lo_au, hi_au, index in zip(devs.tolist(), first.tolist(), end.tolist(),
                                            entries.tolist(), strict=True):
            space = self.maps[dev]
            for used_lo, used_hi in space.overlaps(lo_au, hi_au):
                found.append(Collision(dev, used_lo * au, index, (used_hi - used_lo) * au))
            space.add(lo_au, hi_au)
        self.collisions.extend(found)
        return found

    def collides(self, fmap: FileMap) -> bool:
        """Whether any extent of `fmap` meets AUs already used by the log."""
        for ext in fmap.all_extents():
            first, end = self.aus_of(ext)
            if self.maps[ext.devindex].overlaps(first, end):
                return True
        return False

    def capacity(self) -> int:
        """Bytes of all devices, including superblock and log."""
        return sum(self.sizes.values())

    def used(self) -> int:
        """Bytes in used AUs (superblock and log included)."""
        return sum(m.used() for m in self.maps.values()) * self.alloc_unit

    def free(self) -> int:
        return self.capacity() - self.used()

    def _busy(self, devindex: int, taken: dict[int, SpaceMap] | None) -> list[SpaceMap]:
        maps = [self.maps[devindex]]
        if taken and devindex in taken:
            maps.append(taken[devindex])
        return maps

    def alloc_contiguous(self, size: int, devindex: int = 0,
                         taken: dict[int, SpaceMap] | None = None) -> FileMap:
        """First fit of `size` bytes (rounded up to AUs) on `devindex`, avoiding the AUs in
        `taken` as well as the log's: one simple extent. Nothing is marked."""
        if size <= 0:
            raise UsageError(f"file size {size} must be positive")
        au = self.alloc_unit
        nau = -(-size // au)
        space = self.maps[devindex]
        first = first_fit(self._busy(devindex, taken), nau, 0, space.aus)
        if first < 0:
            raise NoSpaceError(f"no {nau} contiguous free allocation units ({nau * au} bytes) "
                               f"on device {devindex}: {self.free()} bytes free in all")
        return FileMap.simple([SimpleExtent(devindex, first * au, nau * au)])

    def alloc_contiguous_many(self, sizes: Sequence[int], devindex: int = 0,
                              taken: dict[int, SpaceMap] | None = None) -> list[int]:
        """Device byte offsets of one simple extent each for files of `sizes` bytes, all
        on `devindex`: what `alloc_contiguous` of each size in turn gives when each result
        is added to `taken` before the next (first fit), found in one pass over the free
        gaps. A size that does not fit raises the NoSpaceError `alloc_contiguous` raises
        for it. Nothing is marked, and `taken` is not changed."""
        au = self.alloc_unit
        space = self.maps[devindex]
        busy = self._busy(devindex, taken)
        runs = sorted(run for m in busy for run in zip(m.starts, m.ends, strict=True))
        gap_starts: list[int] = []
        gap_ends: list[int] = []
        pos = 0
        for start, end in runs:
            if start > pos:
                gap_starts.append(pos)
                gap_ends.append(min(start, space.aus))
            pos = max(pos, end)
        if pos < space.aus:
            gap_starts.append(pos)
            gap_ends.append(space.aus)
        out: list[int] = []
        first_open = 0
        ngaps = len(gap_starts)
        for size in sizes:
            if size <= 0:
                raise UsageError(f"file size {size} must be positive")
            nau = -(-size // au)
            while first_open < ngaps and gap_starts[first_open] >= gap_ends[first_open]:
                first_open += 1
            i = first_open
            while i < ngaps and gap_ends[i] - gap_starts[i] < nau:
                i += 1
            if i == ngaps:
                raise NoSpaceError(f"no {nau} contiguous free allocation units ({nau * au} "
                                   f"bytes) on device {devindex}: {self.free()} bytes free in "
                                   f"all")
            out.append(gap_starts[i] * au)
            gap_starts[i] += nau
        return out

    def alloc_spread(self, size: int, order: Sequence[int],
                     taken: dict[int, SpaceMap] | None = None) -> FileMap:
        """A contiguous file on the first device of `order` with room for it (the others are
        tried in turn on ENOSPC). Nothing is marked."""
        if len(order) == 1:
            return self.alloc_contiguous(size, order[0], taken)
        for devindex in order:
            try:
                return self.alloc_contiguous(size, devindex, taken)
            except NoSpaceError:
                continue
        nau = -(-size // self.alloc_unit)
        raise NoSpaceError(f"no {nau} contiguous free allocation units ({nau * self.alloc_unit} "
                           f"bytes) on any of the {len(order)} devices: {self.free()} bytes free "
                           f"in all")

    def alloc_striped(self, size: int, nstrips: int, chunk_size: int, order: Sequence[int],
                      taken: dict[int, SpaceMap] | None = None) -> FileMap:
        """An interleaved file with one strip of `ceil(size_AU / (nstrips*chunk_AU)) *
        chunk_size` bytes on each of `nstrips` distinct devices, taken in `order` (a device
        without room is passed over). A file smaller than one chunk is allocated contiguously
        (alloc_spread). Nothing is marked."""
        if size <= 0:
            raise UsageError(f"file size {size} must be positive")
        if size < chunk_size:
            return self.alloc_spread(size, order, taken)
        au = self.alloc_unit
        chunk_au = chunk_size // au
        size_au = -(-size // au)
        strip_au = -(-size_au // (nstrips * chunk_au)) * chunk_au
        strips: list[SimpleExtent] = []
        for devindex in order:
            space = self.maps[devindex]
            pos = first_fit(self._busy(devindex, taken), strip_au, 0, space.aus)
            if pos < 0:
                continue
            strips.append(SimpleExtent(devindex, pos * au, strip_au * au))
            if len(strips) == nstrips:
                return FileMap.interleaved(chunk_size, strips)
        raise NoSpaceError(f"only {len(strips)} of {len(order)} devices have {strip_au * au} "
                           f"free contiguous bytes; {nstrips} strips on distinct devices needed")

    def alloc_interleaved(self, size: int, params: InterleaveParams,
                          rng: random.Random | None = None,
                          taken: dict[int, SpaceMap] | None = None) -> FileMap:
        """Strips of `ceil(size_AU / (nstrips*chunk_AU)) * chunk_size` bytes in distinct
        buckets of device 0 (chosen at random, as the reference does). A file smaller than one
        chunk is allocated contiguously. Nothing is marked."""
        if size < params.chunk_size:
            return self.alloc_contiguous(size, taken=taken)
        au = self.alloc_unit
        chunk_au = params.chunk_size // au
        size_au = -(-size // au)
        strip_au = -(-size_au // (params.nstrips * chunk_au)) * chunk_au
        if params.nbuckets is None:
            raise UsageError("interleaving on a single device needs nbuckets")
        bucket_au = self.maps[0].aus // params.nbuckets
        if strip_au > bucket_au:
            raise NoSpaceError(f"a strip of {strip_au * au} bytes does not fit in a bucket of "
                               f"{bucket_au * au} bytes")
        order = list(range(params.nbuckets))
        (rng or random).shuffle(order)
        busy = self._busy(0, taken)
        local = SpaceMap(self.maps[0].aus)
        busy.append(local)
        taken_at: list[int] = []
        for bucket in order:
            pos = first_fit(busy, strip_au, bucket * bucket_au, (bucket + 1) * bucket_au)
            if pos < 0:
                continue
            local.add(pos, pos + strip_au)
            taken_at.append(pos)
            if len(taken_at) == params.nstrips:
                break
        if len(taken_at) < params.nstrips:
            raise NoSpaceError(f"only {len(taken_at)} of {params.nbuckets} buckets have "
                               f"{strip_au * au} free contiguous bytes; {params.nstrips} strips "
                               f"needed")
        strips = [SimpleExtent(0, pos * au, strip_au * au) for pos in taken_at]
        return FileMap.interleaved(params.chunk_size, strips)


def space_of(extents: Iterable[SimpleExtent], alloc_unit: int,
             sizes: dict[int, int]) -> dict[int, SpaceMap]:
    """SpaceMaps (by device index) of the AUs that `extents` occupy."""
    out: dict[int, SpaceMap] = {}
    for ext in extents:
        space = out.get(ext.devindex)
        if space is None:
            space = out[ext.devindex] = SpaceMap(sizes.get(ext.devindex, 0) // alloc_unit)
        space.add(ext.offset // alloc_unit, -(-(ext.offset + ext.length) // alloc_unit))
    return out
