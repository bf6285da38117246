"""The documented Dask example: a LocalCluster of worker processes, each its own client host,
reads Parquet and an array from famfs, then sees files the master adds while it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "dask_famfs.py"


def test_the_dask_example_reads_famfs_on_worker_processes_that_are_client_hosts(image_path):
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--image", image_path, "--workers",
                           "2", "--rows", "5000"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "2 workers, each its own client host, reading views: OK" in lines
    assert "a part added while the cluster runs is read: OK" in lines
    assert "an array added while the cluster runs is read: OK" in lines
    assert lines[-1] == "famfs + dask: OK"
