"""Fixtures for the mapping layer: real famfs images with files in them."""

from __future__ import annotations

import pytest
from mapping_helpers import IMAGE_SIZE

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs


@pytest.fixture
def fs(image_path: str) -> Filesystem:
    """A fresh 256 MiB famfs (this test's host is its master), opened writable."""
    mkfs(image_path, size=IMAGE_SIZE)
    with Filesystem(image_path, writable=True) as filesystem:
        yield filesystem
