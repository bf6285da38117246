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


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory):
    """The fixture package famfs-uniform-format installed in a private site directory on
    sys.path, for the whole session; removed from sys.path and the registry afterwards."""
    import sys

    from mapping_helpers import FIXTURES, install_dist

    from famfs.mapping.formats import unregister_format

    site = tmp_path_factory.mktemp("site")
    install_dist(FIXTURES / "famfs-uniform-format", site)
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    unregister_format("uniform_ext")
    sys.modules.pop("famfs_uniform_format", None)
