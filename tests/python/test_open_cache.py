"""What one process keeps between opens (device descriptors, the windows of files), and that
it is never believed once the device under it changed."""

from __future__ import annotations

import os

from python_helpers import put

import famfs
from famfs.access import served_for
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.target import require_target
from famfs.omf.layout import MiB


def first_bytes(target: str, count: int = 8) -> bytes:
    with famfs.open(target) as f:
        return f.array()[:count].tobytes()


def test_a_repeat_open_reuses_the_mapped_window(fs, image):
    put(fs, "f", os.urandom(3 * MiB))
    with famfs.open(f"{image}:f") as f:
        first = f.array().ctypes.data
    with famfs.open(f"{image}:f") as f:
        assert f.array().ctypes.data == first


def test_a_repeat_open_opens_no_new_descriptor(fs, image):
    put(fs, "f", os.urandom(MiB))
    first_bytes(f"{image}:f")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with famfs.open(f"{image}:f") as f:
            f.read(10)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_new_filesystem_made_in_place_is_not_served_from_the_cache(fs, image):
    put(fs, "f", b"old!" * 1024)
    assert first_bytes(f"{image}:f") == b"old!old!"
    fs.close()
    mkfs(image, force=True)
    with Filesystem(image, writable=True) as again:
        again.mkdir("pad")
        again.create_file("pad/x", 64 * MiB)
        put(again, "f", b"new!" * 2048)
    assert first_bytes(f"{image}:f") == b"new!new!"


def test_an_image_replaced_at_the_same_path_is_not_served_from_the_cache(fs, image):
    put(fs, "f", b"old!" * 1024)
    assert first_bytes(f"{image}:f") == b"old!old!"
    fs.close()
    os.unlink(image)
    mkfs(image, size=256 * MiB)
    with Filesystem(image, writable=True) as again:
        put(again, "f", b"NEW!" * 1024)
    assert first_bytes(f"{image}:f") == b"NEW!NEW!"


def test_the_cache_is_per_filesystem_and_checked_on_every_open(fs, image):
    put(fs, "f", b"x" * 100)
    target = require_target(f"{image}:f")
    assert served_for(target) is served_for(target)
