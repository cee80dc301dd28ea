"""The delivered evidence travels with the bundle: `evidence/raw/` holds the files as the office sent them.

The ingest stage copies every delivered file (what the evidence reader looks at: the regular files
of the evidence folder, not hidden files or Office lock files) byte for byte into the bundle, and
the run's notebooks then read that copy. So a bundle carries what it was computed from, `verify`
can regenerate it from its own copy, and an auditor can hold the copy against the office's archive
(`assessment verify BUNDLE --raw DIR`). The delivered files themselves are never modified.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .evidence import sha256_file

RAW = Path("evidence") / "raw"  # inside a bundle


def is_delivered(path: Path) -> bool:
    """A file the evidence reader looks at (the same rule as `evidence.locate`): hidden files and
    Office lock files (~$…) are the folder's, not the office's delivery."""
    return path.is_file() and not path.name.startswith((".", "~$"))


def delivered_files(raw_dir: Path) -> dict[str, Path]:
    """name → path of the delivered files of an evidence folder, in name order."""
    return {p.name: p for p in sorted(Path(raw_dir).iterdir()) if is_delivered(p)}


def copy_raw(raw_dir: Path, bundle: Path) -> Path:
    """Copy the delivered files verbatim into `<bundle>/evidence/raw/` (nothing when they already are that folder).

    Each copy is checked against its original's hash; a file that changed while it was copied is
    an error (the bundle would not hold what was read)."""
    dest = Path(bundle) / RAW
    src = Path(raw_dir)
    if not src.is_dir():
        return dest  # the reader says that the folder is missing, with the run's own message
    if dest.is_dir() and os.path.samefile(src, dest):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in delivered_files(src).items():
        target = dest / name
        shutil.copyfile(path, target)
        if sha256_file(target) != sha256_file(path):
            raise OSError(f"证据文件 {name} 在复制时发生变化（evidence file {name} changed while it was copied）")
    return dest


def compare(archive: Path, copy: Path) -> list[str]:
    """Differences between the office's archive of the delivered files and a bundle's copy: missing, extra, different."""
    kept = delivered_files(archive) if Path(archive).is_dir() else {}
    held = delivered_files(copy) if Path(copy).is_dir() else {}
    out = []
    for name in sorted(set(kept) | set(held)):
        if name not in held:
            out.append(f"{RAW.as_posix()}/{name}：运行包中没有归档中的这个交付文件（the bundle lacks this delivered file of the archive）")
        elif name not in kept:
            out.append(f"{RAW.as_posix()}/{name}：归档 --raw 中没有这个文件（not among the delivered files in --raw）")
        elif sha256_file(kept[name]) != sha256_file(held[name]):
            out.append(f"{RAW.as_posix()}/{name}：与归档 --raw 中的交付文件不同（differs from the delivered file in --raw: "
                       f"{sha256_file(kept[name])[:12]}… → {sha256_file(held[name])[:12]}…）")
    return out


def named_as_delivered(problems: list, raw_dir: Path) -> list:
    """Problems found while the notebooks read the bundle's copy, naming the folder the office delivered.

    A problem about the folder or a file in it (a table missing, two files for one table) names
    `evidence/raw`, the copy the stage read; the analyst must read the folder they gave (--raw)."""
    from dataclasses import replace

    raw = RAW.as_posix()
    out = []
    for p in problems:
        file = p.file
        seen = file.replace(os.sep, "/") if isinstance(file, str) and os.sep != "/" else file  # Windows: evidence\raw\x.csv
        if isinstance(seen, str) and (seen == raw or seen.startswith(f"{raw}/")):
            file = str(Path(raw_dir) / seen[len(raw):].lstrip("/")) if seen != raw else str(raw_dir)
        out.append(replace(p, file=file) if file != p.file else p)
    return out
