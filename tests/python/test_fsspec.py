"""famfs through fsspec (protocol `famfs`, found through the `fsspec.specs` entry point):
listing, reading, byte ranges, and pandas and pyarrow.dataset on top, with no mount."""

from __future__ import annotations

import io

import fsspec
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from python_helpers import put

from famfs.fsspec import FamfsFileSystem


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"id": np.arange(3000), "x": rng.standard_normal(3000),
                         "tag": [f"t{i % 7}" for i in range(3000)]})


@pytest.fixture
def dataset(fs, table):
    """data/t/part{0,1,2}.parquet and data/t.csv on the image."""
    fs.mkdir("data/t", parents=True)
    for i in range(3):
        buf = io.BytesIO()
        table.iloc[i * 1000:(i + 1) * 1000].to_parquet(buf, index=False)
        put(fs, f"data/t/part{i}.parquet", buf.getvalue())
    put(fs, "data/t.csv", table.to_csv(index=False).encode())
    return fs.path


def test_the_famfs_protocol_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="fsspec.specs")}
    assert names.get("famfs") == "famfs.fsspec:FamfsFileSystem"
    assert fsspec.get_filesystem_class("famfs") is FamfsFileSystem


def test_ls_and_info_with_a_device_option(dataset):
    fs = fsspec.filesystem("famfs", device=dataset)
    assert fs.ls("data/t", detail=False) == [f"data/t/part{i}.parquet" for i in range(3)]
    info = fs.info("data/t.csv")
    assert info["type"] == "file" and info["name"] == "data/t.csv" and info["size"] > 0
    assert fs.info("data")["type"] == "directory"
    assert fs.isdir("data/t") and not fs.exists("data/none")
    assert sorted(fs.find("data")) == ["data/t.csv"] + [f"data/t/part{i}.parquet"
                                                        for i in range(3)]


def test_a_device_path_url_needs_no_option(dataset):
    with fsspec.open(f"famfs://{dataset}:data/t.csv", "rb") as f:
        assert f.read(6) == b"id,x,t"
    fs, path = fsspec.core.url_to_fs(f"famfs://{dataset}:data/t")
    assert fs.ls(path, detail=False)[0] == f"{dataset}:data/t/part0.parquet"


def test_open_read_seek_and_cat_serve_the_files_bytes(dataset, table):
    fs = fsspec.filesystem("famfs", device=dataset)
    want = table.to_csv(index=False).encode()
    with fs.open("data/t.csv", "rb") as f:
        assert f.read() == want
        f.seek(10)
        assert f.read(5) == want[10:15]
    assert fs.cat_file("data/t.csv") == want
    assert fs.cat_file("data/t.csv", start=3, end=20) == want[3:20]
    assert fs.cat_file("data/t.csv", start=-4) == want[-4:]
    got = fs.cat_ranges(["data/t.csv", "data/t.csv", "data/none"], [0, 100, 0], [5, 110, 1])
    assert got[:2] == [want[:5], want[100:110]] and isinstance(got[2], FileNotFoundError)


def test_pandas_reads_parquet_and_csv_through_the_url(dataset, table):
    opts = {"device": dataset}
    got = pd.read_parquet("famfs://data/t", storage_options=opts)
    pd.testing.assert_frame_equal(got.sort_values("id").reset_index(drop=True), table)
    csv = pd.read_csv("famfs://data/t.csv", storage_options=opts)
    pd.testing.assert_frame_equal(csv, table)


def test_pyarrow_dataset_reads_through_the_filesystem(dataset, table):
    fs = fsspec.filesystem("famfs", device=dataset)
    got = ds.dataset("data/t", filesystem=fs, format="parquet").to_table()
    assert got.num_rows == len(table) and sorted(got.column("id").to_pylist()) == list(range(3000))


def test_writing_on_the_master_creates_the_file(image):
    fs = fsspec.filesystem("famfs", device=image)
    fs.mkdir("out")
    with fs.open("out/w.bin", "wb") as f:
        f.write(b"hello ")
        f.write(b"famfs")
    assert fs.cat_file("out/w.bin") == b"hello famfs"
    assert fs.info("out/w.bin")["size"] == 11


def test_a_failed_write_block_logs_nothing(image):
    fs = fsspec.filesystem("famfs", device=image)
    with pytest.raises(RuntimeError), fs.open("half.bin", "wb") as f:
        f.write(b"partial")
        raise RuntimeError("producer failed")
    assert not fs.exists("half.bin")


def test_writing_on_a_client_is_a_role_error(image, as_client):
    as_client()
    fs = fsspec.filesystem("famfs", device=image, skip_instance_cache=True)
    with pytest.raises(PermissionError, match="master"), fs.open("c.bin", "wb") as f:
        f.write(b"x")
    assert not fs.exists("c.bin")


def test_files_cannot_be_removed(dataset):
    fs = fsspec.filesystem("famfs", device=dataset)
    with pytest.raises(OSError, match="cannot be removed"):
        fs.rm("data/t.csv")
    assert fs.exists("data/t.csv")
