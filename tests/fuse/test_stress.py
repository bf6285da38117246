"""Stress on a real mount: 16 concurrent readers and a writer for FAMFS_STRESS_SECONDS seconds
(default 60). No operation fails and no reader ever sees a wrong byte.

Read-only files hold fixed bytes (`fill`). The written file is rewritten over and over, one
generation at a time; each of its 8-byte words encodes (MAGIC, generation, word index), so a
reader checks every word it sees: the right index, the magic, and a generation that has been
started (byte by byte: a read racing a write may mix the two generations' bytes, which is what
unsynchronized shared memory gives). Afterwards the device itself is checked: read-only files
unchanged, the written file holding exactly its last generation.
"""

from __future__ import annotations

import mmap
import os
import random
import threading
import time

import numpy as np
import pytest

from conftest import Mounter, fill, populate
from famfs.fs.filesystem import Filesystem
from famfs.mapping.files import read_file, write_file
from famfs.omf.layout import MiB

pytestmark = [pytest.mark.fuse, pytest.mark.slow]

READERS = 16
READ_ONLY = {f"ro/file{i}": (size, 0o644, 0, 0)
             for i, size in enumerate([4096, 1 * MiB + 3, 2 * MiB, 3 * MiB - 7, 5 * MiB,
                                       8 * MiB, 123457, 6 * MiB + 4096])}
WRITTEN = "rw/target"
WRITTEN_SIZE = 4 * MiB
WORDS = WRITTEN_SIZE // 8
MAGIC = 0xFA5F
CHUNK = 256 * 1024


def duration() -> float:
    return float(os.environ.get("FAMFS_STRESS_SECONDS", "60"))


def generation(gen: int) -> np.ndarray:
    """The words of generation `gen` of the written file."""
    index = np.arange(WORDS, dtype=np.uint64)
    return (np.uint64(MAGIC) << np.uint64(48)) | (np.uint64(gen) << np.uint64(24)) | index


def check_written(buf: bytes, offset: int, started: int) -> str | None:
    """Why the bytes read at `offset` are wrong (None if every one is plausible).

    A read racing a write may see each byte from either generation (copies are not atomic at
    any size), so each byte is checked on its own: the index and magic bytes are the same in
    every generation and must match exactly; each generation byte may come from any generation
    started so far.
    """
    skip = -offset % 8
    buf, offset = buf[skip:], offset + skip
    words = np.frombuffer(buf[:len(buf) // 8 * 8], dtype="<u8")
    if not len(words):
        return None
    first = offset // 8
    index = words & np.uint64(0xFFFFFF)
    magic = words >> np.uint64(48)
    if (index != np.arange(first, first + len(words), dtype=np.uint64)).any():
        return f"word index wrong near byte {offset}"
    if (magic != MAGIC).any():
        return f"magic wrong near byte {offset}"
    gen_mid = int(((words >> np.uint64(32)) & np.uint64(0xFF)).max())
    gen_high = int(((words >> np.uint64(40)) & np.uint64(0xFF)).max())
    if gen_high > started >> 16 or (gen_high == 0 and gen_mid > started >> 8):
        return f"a generation above {started} (not yet started) near byte {offset}"
    return None


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, READ_ONLY, {"ro": (0o755, 0, 0), "rw": (0o755, 0, 0)})
    with Filesystem(famfs_image, writable=True) as fs:
        node = fs.create_file(WRITTEN, WRITTEN_SIZE)
        write_file(fs, node, 0, generation(0).tobytes())
        fs.flush_file(node)
    return famfs_image


def test_sixteen_readers_and_a_writer_see_only_right_bytes(mounter: Mounter, image: str) -> None:
    mp, _ = mounter.mount(image)
    expected = {path: fill(tag, size) for tag, (path, (size, _, _, _))
                in enumerate(READ_ONLY.items(), 1)}
    stop = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []
    started = [0]
    finished = [0]
    counts = {"reads": 0, "bytes": 0, "opens": 0, "written_reads": 0}

    def fail(message: str) -> None:
        with lock:
            errors.append(message)
        stop.set()

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        reads = nbytes = opens = written = 0
        aligned = mmap.mmap(-1, 1 * MiB)  # page-aligned buffer for O_DIRECT
        try:
            while not stop.is_set():
                if rng.random() < 0.2:
                    path = WRITTEN
                    size = WRITTEN_SIZE
                else:
                    path = rng.choice(list(READ_ONLY))
                    size = READ_ONLY[path][0]
                flags = os.O_RDONLY | (os.O_DIRECT if rng.random() < 0.25 else 0)
                if flags & os.O_DIRECT:
                    offset = rng.randrange(0, size, 4096)
                    length = rng.choice([4096, 65536, 1 * MiB])
                else:
                    offset = rng.randrange(0, size)
                    length = rng.choice([1, 4095, 65536, 1 * MiB + 5])
                fd = os.open(os.path.join(mp, path), flags)
                opens += 1
                try:
                    for _ in range(rng.randint(1, 4)):
                        if flags & os.O_DIRECT:
                            n = os.preadv(fd, [memoryview(aligned)[:length]], offset)
                            data = aligned[:n]
                        else:
                            data = os.pread(fd, length, offset)
                        want = min(length, max(0, size - offset))
                        if len(data) != want:
                            fail(f"{path}: read of {length} at {offset} returned {len(data)}, "
                                 f"expected {want}")
                            return
                        if path == WRITTEN:
                            why = check_written(data, offset, started[0])
                            if why:
                                fail(f"{path}: {why}")
                                return
                            written += 1
                        elif data != expected[path][offset:offset + want]:
                            fail(f"{path}: wrong bytes in [{offset}, {offset + want})")
                            return
                        reads += 1
                        nbytes += len(data)
                        offset = rng.randrange(0, size, 4096 if flags & os.O_DIRECT else 1)
                finally:
                    os.close(fd)
        except Exception as exc:  # any failure fails the test, not just the thread
            fail(f"reader {seed}: {exc!r}")
        finally:
            aligned.close()
            with lock:
                counts["reads"] += reads
                counts["bytes"] += nbytes
                counts["opens"] += opens
                counts["written_reads"] += written

    def writer() -> None:
        target = os.path.join(mp, WRITTEN)
        gen = 0
        try:
            while not stop.is_set():
                gen += 1
                started[0] = gen
                blob = generation(gen).tobytes()
                fd = os.open(target, os.O_WRONLY)
                try:
                    for pos in range(0, WRITTEN_SIZE, CHUNK):
                        n = os.pwrite(fd, blob[pos:pos + CHUNK], pos)
                        if n != CHUNK:
                            fail(f"writer: short write {n} at {pos}")
                            return
                    os.fsync(fd)
                finally:
                    os.close(fd)
                with open(target, "rb") as fh:
                    if fh.read() != blob:
                        fail(f"writer: generation {gen} did not read back")
                        return
                finished[0] = gen
        except Exception as exc:
            fail(f"writer: {exc!r}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    threads.append(threading.Thread(target=writer))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        stop.wait(duration())
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:5]
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert counts["reads"] > READERS and counts["written_reads"] > 0
    assert finished[0] >= 1, "the writer never completed a generation"
    print(f"stress: {elapsed:.0f} s, {counts['reads']} reads, {counts['bytes'] / MiB:.0f} MiB, "
          f"{counts['opens']} opens, {finished[0]} generations written")

    with open(os.path.join(mp, WRITTEN), "rb") as fh:
        assert fh.read() == generation(finished[0]).tobytes()
    assert mounter.run_cli("umount", mp).returncode == 0
    with Filesystem(image) as fs:
        for path, want in expected.items():
            got = read_file(fs, fs.file(path), 0, len(want))
            assert got == want, f"{path} changed on the device"
        assert read_file(fs, fs.file(WRITTEN), 0, WRITTEN_SIZE) == generation(finished[0]).tobytes()
