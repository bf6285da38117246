"""Tensors in famfs: every tensor of a .safetensors file as a zero-copy NumPy view.

The format (as the `safetensors` package writes it): an 8-byte little-endian header length N,
N bytes of JSON (an object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
plus an optional "__metadata__" object of strings), then the tensor data; offsets count from
the first byte after the header, and the tensors cover the data end to end.

NumPy has no bfloat16 or 8-bit float types: those tensors come as unsigned integers of the
same width, holding the bits (torch: `torch.from_numpy(a).view(torch.bfloat16)`).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from famfs.access import open as famfs_open
from famfs.errors import CorruptError

DTYPES: dict[str, str] = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "F16": "<f2",
    "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8",
    "C64": "<c8", "C128": "<c16",
    "BF16": "<u2", "F8_E4M3": "u1", "F8_E5M2": "u1", "F8_E8M0": "u1",
}
"""safetensors dtype -> the NumPy dtype of the view (bit containers for types NumPy lacks)."""
MAX_HEADER = 100 * 1024 * 1024
"""The largest header accepted, as the safetensors package limits it."""


def _bad(name: str, field: str, detail: str) -> CorruptError:
    return CorruptError(f"safetensors file {name}", field, detail)


def parse_header(raw: bytes | memoryview, file_size: int, name: str
                 ) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(data start, tensors, metadata) from the first bytes of a .safetensors file of
    `file_size` bytes. Every rule is checked; CorruptError names the tensor and field."""
    if file_size < 8:
        raise _bad(name, "header length", f"the file has {file_size} bytes, fewer than 8")
    (length,) = struct.unpack_from("<Q", raw, 0)
    if length > MAX_HEADER or 8 + length > file_size:
        raise _bad(name, "header length", f"{length} bytes does not fit in the file "
                   f"({file_size} bytes, at most {MAX_HEADER} for the header)")
    try:
        header = json.loads(bytes(raw[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(name, "header", f"not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _bad(name, "header", "is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _bad(name, "__metadata__", "must map strings to strings")
    start = 8 + length
    data_len = file_size - start
    tensors: dict[str, tuple[np.dtype, tuple[int, ...], int, int]] = {}
    for tname, info in header.items():
        where = f"tensor {tname!r}"
        if not isinstance(info, dict):
            raise _bad(name, where, "is not a JSON object")
        dtype = DTYPES.get(info.get("dtype"))  # type: ignore[arg-type]
        if dtype is None:
            raise _bad(name, f"{where} dtype", f"{info.get('dtype')!r} is not a known dtype")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise _bad(name, f"{where} shape", f"{shape!r} is not a list of sizes")
        offsets = info.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_len):
            raise _bad(name, f"{where} data_offsets", f"{offsets!r} is not [begin, end] "
                       f"inside the {data_len} data bytes")
        dt = np.dtype(dtype)
        count = 1
        for d in shape:
            count *= d
        if count * dt.itemsize != offsets[1] - offsets[0]:
            raise _bad(name, f"{where} data_offsets", f"{offsets[1] - offsets[0]} bytes, but "
                       f"shape {shape} of {info['dtype']} needs {count * dt.itemsize}")
        tensors[tname] = (dt, tuple(shape), offsets[0], offsets[1])
    end = 0
    for tname, (_, _, begin, stop) in sorted(tensors.items(), key=lambda kv: kv[1][2:]):
        if begin != end:
            raise _bad(name, f"tensor {tname!r} data_offsets", f"starts at {begin}, not at "
                       f"{end} where the previous tensor ends (tensors cover the data end "
                       f"to end)")
        end = stop
    if end != data_len:
        raise _bad(name, "data", f"the tensors cover {end} bytes of {data_len}")
    return start, tensors, metadata


def load(path: str, writable: bool = False) -> dict[str, np.ndarray]:
    """Every tensor of the famfs .safetensors file `path` (DEVICE:PATH or a path in a mount),
    by name, as NumPy views of the file's memory: nothing is copied. Read-only unless
    `writable` (the rules of `famfs.open(path, "r+b")` apply)."""
    return load_with_metadata(path, writable)[0]


def load_with_metadata(path: str, writable: bool = False
                       ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, the header's `__metadata__`) of the famfs .safetensors file `path`."""
    with famfs_open(path, "r+b" if writable else "rb") as f:
        view = f.view()
        start, tensors, metadata = parse_header(view[:min(len(view), 8 + MAX_HEADER)],
                                                f.size, f.name)
        out: dict[str, np.ndarray] = {}
        for tname, (dt, shape, begin, stop) in tensors.items():
            arr = np.frombuffer(view, dtype=dt, count=(stop - begin) // dt.itemsize,
                                offset=start + begin)
            out[tname] = arr.reshape(shape)
        return out, metadata
