"""The package is layered from the bytes up, and no module imports one of a higher layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS = [
    ["famfs", "famfs.errors"],
    ["famfs.omf"],
    ["famfs.device", "famfs.holds", "famfs.pattern", "famfs.progress", "famfs.resolver"],
    ["famfs.alloc", "famfs.log"],
    ["famfs.fs"],
    ["famfs.mapping"],
    ["famfs.permissions", "famfs.fuse"],
    ["famfs.access"],
    ["famfs.api"],
    ["famfs.producer"],
    ["famfs.cli", "famfs.__main__", "famfs.fsspec", "famfs.arrow", "famfs.safetensors",
     "famfs.dask"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def unit(module: str) -> str:
    """The layer unit of a module: famfs.X for famfs.X.Y..., famfs for the package itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((SRC / "famfs").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        out.append((name, path))
    return out


def famfs_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n == "famfs" or n.startswith("famfs."))
    return found


def test_every_module_has_a_layer() -> None:
    assert [name for name, _ in modules() if unit(name) not in RANK] == []


@pytest.mark.parametrize(("name", "path"), modules(), ids=[name for name, _ in modules()])
def test_a_module_imports_only_its_own_layer_or_lower_ones(name: str, path: Path) -> None:
    own = RANK[unit(name)]
    higher = sorted(dep for dep in famfs_imports(path)
                    if unit(dep) != unit(name) and RANK.get(unit(dep), 99) > own)
    assert higher == []
