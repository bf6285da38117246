"""Arrow in famfs: a file's memory as a `pyarrow.Buffer`, and tables read from it.

An Arrow IPC file (feather v2) or stream is read with no byte copied: its columns are views of
the file's memory, as with `pa.memory_map`, and they keep the mapping alive. Parquet and CSV
are decoded from the same buffer (decoding makes new columns). Needs the `arrow` extra.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from famfs.access import open as famfs_open
from famfs.errors import UsageError

IPC_FILE_MAGIC = b"ARROW1"
PARQUET_MAGIC = b"PAR1"
IPC_STREAM_CONTINUATION = b"\xff\xff\xff\xff"


def buffer(path: str) -> pa.Buffer:
    """The whole famfs file `path` (DEVICE:PATH or a path in a mount) as a read-only Arrow
    buffer over its memory: no copy."""
    with famfs_open(path) as f:
        return pa.py_buffer(f.view())


def format_of(buf: pa.Buffer) -> str:
    """'ipc', 'ipc-stream', 'parquet' or 'csv' (the default), from the leading bytes."""
    head = buf[:8].to_pybytes()
    if head.startswith(IPC_FILE_MAGIC):
        return "ipc"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(IPC_STREAM_CONTINUATION):
        return "ipc-stream"
    return "csv"


def read_table(path: str, format: str | None = None, **options: Any) -> pa.Table:
    """The table in the famfs file `path`. `format` ('ipc', 'ipc-stream', 'parquet', 'csv')
    is found from the file's first bytes when not given; `options` go to the reader
    (`pyarrow.parquet.read_table` or `pyarrow.csv.read_csv`). An IPC table's columns are
    views of the file: zero bytes are copied."""
    buf = buffer(path)
    kind = format or format_of(buf)
    if kind == "ipc":
        return pa.ipc.open_file(buf).read_all()
    if kind == "ipc-stream":
        return pa.ipc.open_stream(buf).read_all()
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(buf), **options)
    if kind == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(pa.BufferReader(buf), **options)
    raise UsageError(f"{path}: format {kind!r} is not ipc, ipc-stream, parquet or csv")
