"""The client half of the mapping layer stands on its own: parsing maps, caching them and
fetching them through a transport needs nothing of the filesystem layer."""

from __future__ import annotations

import subprocess
import sys

CLIENT_HALF = ["famfs.mapping.client", "famfs.mapping.transport", "famfs.mapping.formats",
               "famfs.mapping.famfs_formats", "famfs.mapping.wire", "famfs.mapping.mapped",
               "famfs.mapping.iomap", "famfs.mapping.protocol"]


def test_the_client_half_of_the_mapping_layer_imports_nothing_of_famfs_fs() -> None:
    code = ("import importlib, sys\n"
            f"for name in {CLIENT_HALF!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'famfs.fs' or "
            "m.startswith('famfs.fs.')))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == "[]"
