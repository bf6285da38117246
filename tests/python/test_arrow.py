"""Arrow in famfs: IPC files read with zero bytes copied, Parquet and CSV decoded from the
file's memory, and pyarrow's own readers on famfs buffers."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from python_helpers import put

import famfs
import famfs.arrow
from famfs.errors import UsageError


@pytest.fixture
def table() -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table({"i": pa.array(np.arange(100_000, dtype=np.int64)),
                     "f": pa.array(rng.standard_normal(100_000)),
                     "s": pa.array([f"row{i}" for i in range(100_000)])})


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    feather.write_feather(table, sink, compression="uncompressed")
    return sink.getvalue().to_pybytes()


def test_an_ipc_table_is_a_view_of_the_file_with_nothing_copied(fs, table):
    put(fs, "t.arrow", ipc_bytes(table))
    before = pa.total_allocated_bytes()
    got = famfs.arrow.read_table(f"{fs.path}:t.arrow")
    assert pa.total_allocated_bytes() == before
    assert got.equals(table)
    with famfs.open(f"{fs.path}:t.arrow") as f:
        base = f.array().ctypes.data
        size = f.size
    for column in got.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    assert base <= buf.address < base + size


def test_the_table_outlives_the_file_and_the_process_cache(fs, table):
    put(fs, "t.arrow", ipc_bytes(table))
    got = famfs.arrow.read_table(f"{fs.path}:t.arrow")
    famfs.access.release_connections()
    assert got.column("f").to_numpy()[-1] == table.column("f").to_numpy()[-1]


def test_pyarrows_own_ipc_reader_works_on_the_famfs_buffer(fs, table):
    put(fs, "t.arrow", ipc_bytes(table))
    buf = famfs.arrow.buffer(f"{fs.path}:t.arrow")
    assert pa.ipc.open_file(buf).read_all().equals(table)
    assert feather.read_table(pa.BufferReader(buf)).equals(table)


def test_an_ipc_stream_is_read_too(fs, table):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    put(fs, "t.stream", sink.getvalue().to_pybytes())
    assert famfs.arrow.read_table(f"{fs.path}:t.stream").equals(table)


def test_parquet_and_csv_are_found_by_their_bytes(fs, table):
    buf = io.BytesIO()
    pq.write_table(table, buf)
    put(fs, "t.parquet", buf.getvalue())
    out = pa.BufferOutputStream()
    pcsv.write_csv(table, out)
    put(fs, "t.csv", out.getvalue().to_pybytes())
    assert famfs.arrow.read_table(f"{fs.path}:t.parquet").equals(table)
    assert famfs.arrow.read_table(f"{fs.path}:t.csv").equals(table)


def test_an_unknown_format_name_is_refused(fs, table):
    put(fs, "t.arrow", ipc_bytes(table))
    with pytest.raises(UsageError, match="not ipc"):
        famfs.arrow.read_table(f"{fs.path}:t.arrow", format="orc")
