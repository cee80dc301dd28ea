"""File modes that follow the umask, as a plain `open()` would give them.

Atomic writers make their temporary file with `tempfile.mkstemp`, which creates it 0600 whatever the
umask says; renamed into the bundle, a .docx a colleague should open stays readable by its owner
only, while a CSV written with `open()` beside it is 0644. Every writer that goes through a
temporary file sets the mode from here, so all outputs get `0666 & ~umask` (folders `0777 & ~umask`).
"""

from __future__ import annotations

import os
import sys
import threading

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status).

    Elsewhere the classic set-and-restore is used, under a lock so threads of this process never
    see the temporary 0 umask while creating files through this module."""
    if not sys.platform.startswith("linux"):
        return _set_and_restore()
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass  # an old kernel without the Umask line
    return _set_and_restore()


def _set_and_restore() -> int:
    with _LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0666 less the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode `mkdir` gives a new folder: 0777 less the umask (0755 under umask 022)."""
    return 0o777 & ~current_umask()


def as_if_opened(fd: int) -> None:
    """Give a file made by mkstemp (0600) the mode a plain open() would have given it.

    Only where files have POSIX modes (os.fchmod): on Windows a new file takes its folder's ACL either way."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, file_mode())
