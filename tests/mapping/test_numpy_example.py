"""The documented example: a NumPy array put in with the CLI, opened zero-copy elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import famfs
from famfs.access import release_connections
from famfs.errors import UsageError

EXAMPLE = Path(__file__).parents[2] / "examples" / "numpy_zero_copy.py"


def test_example_script_shares_an_array_with_a_second_process(image_path):
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--image", image_path],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "copied: False" in proc.stdout
    assert "zero-copy share: OK" in proc.stdout


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_array_views_what_np_save_wrote(cli, image_path, tmp_path, order):
    data = np.asfortranarray(np.arange(60, dtype=">i4").reshape(3, 4, 5)) if order == "F" \
        else np.arange(60, dtype="<f8").reshape(3, 4, 5)
    np.save(tmp_path / "a.npy", data)
    cli("--size", "64m", image_path, prog="mkfs.famfs", check=True)
    cli("cp", str(tmp_path / "a.npy"), f"{image_path}:a.npy", check=True)
    try:
        with famfs.open(f"{image_path}:a.npy") as f:
            arr = f.npy_array()
            assert arr.dtype == data.dtype and np.array_equal(arr, data)
            assert not arr.flags.owndata
            del arr
    finally:
        release_connections()


def test_npy_array_refuses_object_arrays(cli, image_path, tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cli("--size", "64m", image_path, prog="mkfs.famfs", check=True)
    cli("cp", str(tmp_path / "o.npy"), f"{image_path}:o.npy", check=True)
    try:
        with famfs.open(f"{image_path}:o.npy") as f, pytest.raises(UsageError, match="objects"):
            f.npy_array()
    finally:
        release_connections()
