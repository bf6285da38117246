"""The `famfs` and `mkfs.famfs` command lines."""
