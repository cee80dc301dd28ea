"""Same scores → same bytes: rewrite an Office zip with fixed entry dates and core-property times.

python-docx and openpyxl stamp the current time into zip entries and `docProps/core.xml`;
nothing else in their output varies between runs.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from ..filemodes import as_if_opened

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def normalise(data: bytes, when: datetime) -> bytes:
    """The same package with every entry dated 1980-01-01 and core created/modified set to `when`."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_TIMES.sub(lambda m: m.group(1) + stamp + m.group(3), content)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, content, compresslevel=6)
    return out.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    """Write atomically: a reader never sees half a document; the mode follows the umask (filemodes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        as_if_opened(fd)  # mkstemp makes 0600; an output follows the umask like every other file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_package(path: Path, data: bytes, when: datetime) -> Path:
    """Normalise an Office package and write it."""
    return write_bytes(path, normalise(data, when))
