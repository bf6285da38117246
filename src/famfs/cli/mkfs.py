"""`python -m famfs.cli.mkfs` runs `mkfs.famfs`."""

from famfs.cli.main import mkfs_main

if __name__ == "__main__":
    raise SystemExit(mkfs_main())
