"""The famfs on-media format (OMF 2.2, superblock version 48): structs and their codecs.

This layer knows bytes only: it encodes and decodes the superblock, the log header, log entries
and file maps, and checks every field. It imports nothing above itself.
"""
