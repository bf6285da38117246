"""famfs.safetensors.load: every tensor of a file the `safetensors` package wrote, as a
zero-copy NumPy view; malformed headers refused with the tensor and field named."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from python_helpers import put
from safetensors.numpy import save

import famfs
import famfs.safetensors
from famfs.errors import CorruptError


@pytest.fixture
def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "embed.weight": rng.standard_normal((300, 64)).astype(np.float32),
        "layer.0.bias": rng.standard_normal(64).astype(np.float16),
        "layer.0.w": rng.standard_normal((64, 64)),
        "ids": np.arange(-50, 50, dtype=np.int64).reshape(10, 10),
        "mask": rng.random(33) > 0.5,
        "small": np.array([1, 2, 3], dtype=np.uint8),
        "empty": np.zeros((0, 4), dtype=np.int32),
    }


def test_every_tensor_written_by_safetensors_comes_back_equal(fs, tensors):
    put(fs, "m.safetensors", save(tensors, metadata={"format": "np"}))
    got, meta = famfs.safetensors.load_with_metadata(f"{fs.path}:m.safetensors")
    assert meta == {"format": "np"}
    assert sorted(got) == sorted(tensors)
    for name, want in tensors.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        assert np.array_equal(got[name], want)


def test_every_tensor_is_a_read_only_view_of_the_file(fs, tensors):
    put(fs, "m.safetensors", save(tensors))
    with famfs.open(f"{fs.path}:m.safetensors") as f:
        base, size = f.array().ctypes.data, f.size
    for arr in famfs.safetensors.load(f"{fs.path}:m.safetensors").values():
        assert not arr.flags.owndata and not arr.flags.writeable
        assert base <= arr.ctypes.data <= base + size


def test_bfloat16_comes_as_its_bits(fs):
    bits = np.array([0x3F80, 0x4000, 0xBF80], dtype=np.uint16)
    header = json.dumps({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    put(fs, "b.safetensors", struct.pack("<Q", len(header)) + header + bits.tobytes())
    got = famfs.safetensors.load(f"{fs.path}:b.safetensors")["b"]
    assert got.dtype == np.uint16 and got.tolist() == bits.tolist()


def _file(header: object, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("blob, field", [
    (b"\x05\x00", "header length"),
    (struct.pack("<Q", 1 << 40) + b"{}", "header length"),
    (struct.pack("<Q", 3) + b"{x}", "header"),
    (_file([1, 2]), "header"),
    (_file({"t": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, b"x"), "'t' dtype"),
    (_file({"t": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, b"x"), "'t' shape"),
    (_file({"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 9]}}, b"x"),
     "'t' data_offsets"),
    (_file({"t": {"dtype": "U16", "shape": [1], "data_offsets": [0, 1]}}, b"x"),
     "'t' data_offsets"),
    (_file({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
            "b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"xx"),
     "data_offsets"),
    (_file({"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"xyz"), "data"),
    (_file({"__metadata__": {"k": 1}}), "__metadata__"),
])
def test_a_malformed_file_is_refused_naming_the_field(fs, blob, field):
    put(fs, "bad.safetensors", blob)
    with pytest.raises(CorruptError, match=f"bad.safetensors.*{field}"):
        famfs.safetensors.load(f"{fs.path}:bad.safetensors")
