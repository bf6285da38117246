"""The mapping layer: named mapping formats, per-file maps parsed once and cached, offsets
resolved with no round trip, devices looked up lazily.

- `famfs.mapping.iomap`: IoMap, IoMapType, MappingError (the iomap vocabulary)
- `famfs.mapping.formats`: the format interface, the bounded metadata accessor, the registry
  (plugins: entry-point group `famfs.mapping_formats`)
- `famfs.mapping.famfs_formats`: the built-in famfs simple and interleaved formats
- `famfs.mapping.wire`: GET_FMAP and GET_DAXDEV reply codecs
- `famfs.mapping.client`: a connection's map cache, device table and round-trip counters
- `famfs.mapping.server`: MapServer, answering map and device requests from the log
- `famfs.mapping.transport`: how requests travel (in process, or xattrs of a mount)
"""

from famfs.mapping.iomap import IoMap, IoMapType, MappingError
from famfs.mapping.mapped import MappedFile, map_file

__all__ = ["IoMap", "IoMapType", "MappedFile", "MappingError", "map_file"]
