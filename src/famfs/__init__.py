"""pyfamfs: famfs, the Fabric-Attached Memory File System, in Python.

Layers, from the bytes up: `famfs.omf` (on-media structs and codecs), `famfs.device` (device
access), `famfs.alloc` and `famfs.log` (allocator and log), `famfs.fs` (namespace, roles,
operations), `famfs.mapping` (mapping formats, map cache, device table), `famfs.fuse` (the FUSE
server) and `famfs.cli` (the command line). Lower layers never import higher ones.
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """`famfs.open` (direct zero-copy access), imported on first use to keep `import famfs`
    cheap."""
    if name == "open":
        from famfs.access import open

        return open
    raise AttributeError(f"module 'famfs' has no attribute {name!r}")
