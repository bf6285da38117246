"""Host roles: the master (whose system UUID is in the superblock) and clients.

A host's system UUID lives in `/opt/famfs/system_uuid` (36 characters, created with a random
UUID if missing), as with the reference tools. Two overrides let one machine act as several
hosts: `FAMFS_SYSTEM_UUID` (the UUID itself) and `FAMFS_SYSTEM_UUID_FILE` (another file).
"""

from __future__ import annotations

import os
import uuid

from famfs.errors import FamfsError

DEFAULT_UUID_FILE = "/opt/famfs/system_uuid"


def uuid_file() -> str:
    return os.environ.get("FAMFS_SYSTEM_UUID_FILE", DEFAULT_UUID_FILE)


def system_uuid() -> uuid.UUID:
    """This host's system UUID (created and stored if the host has none yet)."""
    forced = os.environ.get("FAMFS_SYSTEM_UUID")
    if forced:
        try:
            return uuid.UUID(forced.strip())
        except ValueError:
            raise FamfsError(f"FAMFS_SYSTEM_UUID={forced!r} is not a UUID") from None
    path = uuid_file()
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except FileNotFoundError:
        new = uuid.uuid4()
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "x") as fh:
                fh.write(f"{new}\n")
        except FileExistsError:
            return system_uuid()
        except OSError as exc:
            raise FamfsError(f"{path}: cannot create the system UUID file: "
                             f"{exc.strerror}") from None
        return new
    except OSError as exc:
        raise FamfsError(f"{path}: cannot read the system UUID: {exc.strerror}") from None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise FamfsError(f"{path}: {text[:40]!r} is not a UUID") from None
