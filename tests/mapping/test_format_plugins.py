"""Third-party mapping formats plug in through the `famfs.mapping_formats` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from famfs.mapping import MappingError, map_file
from famfs.mapping.formats import (
    ENTRY_POINT_GROUP,
    MappingFormat,
    format_names,
    get_format,
    load_entry_points,
    register_format,
    unregister_format,
)

MiB = 1 << 20


def test_the_installed_fixture_package_declares_a_real_entry_point(plugin_site):
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    assert "uniform_ext" in eps.names
    assert metadata.distribution("famfs-uniform-format").version == "0.1.0"


def test_the_registry_finds_the_plugin_by_name(plugin_site):
    fmt = get_format("uniform_ext")
    assert type(fmt).__module__ == "famfs_uniform_format"
    assert "uniform_ext" in format_names()
    assert {"famfs_simple", "famfs_interlv"} <= set(format_names())


def test_a_plugin_format_parses_and_resolves_a_file(plugin_site):
    from famfs_uniform_format import encode

    blob = encode(5 * MiB, 21, [(0, 40 * MiB), (2, 8 * MiB), (0, 90 * MiB)])
    m = map_file(blob, format="uniform_ext")
    assert (m.size, m.devices) == (5 * MiB, {0, 2})
    assert [(x.dev, x.addr, x.length) for x in m.spans()] == [
        (0, 40 * MiB, 2 * MiB), (2, 8 * MiB, 2 * MiB), (0, 90 * MiB, MiB)]
    dev, addr, _ = m.resolve_many(np.array([3 * MiB]))
    assert (int(dev[0]), int(addr[0])) == (2, 9 * MiB)
    with pytest.raises(MappingError):
        m.begin(5 * MiB)


def test_a_plugin_rejects_a_bad_blob_with_a_clear_error(plugin_site):
    with pytest.raises(MappingError, match="uniform_ext: bad magic"):
        map_file(b"NOTRIGHT" + bytes(40), format="uniform_ext")


def test_another_process_discovers_the_plugin_from_its_path(plugin_site):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(plugin_site), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c",
                          "from famfs.mapping.formats import format_names; print(format_names())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert "uniform_ext" in out


def test_an_unknown_format_name_is_an_error_listing_the_known_ones():
    with pytest.raises(MappingError, match="no mapping format named 'nosuch'.*famfs_simple"):
        get_format("nosuch")


def test_a_broken_plugin_is_reported_by_its_entry_point(tmp_path):
    from mapping_helpers import install_dist

    project = tmp_path / "broken"
    (project / "src" / "broken_format").mkdir(parents=True)
    (project / "src" / "broken_format" / "__init__.py").write_text("raise ImportError('boom')\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "broken-format"\nversion = "1.0"\n'
        '[project.entry-points."famfs.mapping_formats"]\nbroken = "broken_format:Fmt"\n')
    site = tmp_path / "site"
    site.mkdir()
    install_dist(project, site)
    sys.path.insert(0, str(site))
    try:
        with pytest.raises(MappingError, match="entry point broken = broken_format:Fmt.*boom"):
            load_entry_points()
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("broken_format", None)


class Named(MappingFormat):
    def __init__(self, name):
        self.name = name


@pytest.mark.parametrize("name", ["a" * 16, "", "x\0y", "ü" * 8])
def test_format_names_longer_than_15_bytes_or_empty_are_refused(name):
    with pytest.raises(MappingError, match="mapping format name"):
        register_format(Named(name))


def test_a_15_byte_name_is_accepted_and_a_taken_name_refused():
    fmt = register_format(Named("f" * 15))
    try:
        assert get_format("f" * 15) is fmt
        register_format(fmt)
        with pytest.raises(MappingError, match="registered already"):
            register_format(Named("f" * 15))
    finally:
        unregister_format("f" * 15)
