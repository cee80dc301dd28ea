"""Where two versions of a bundle file differ, said as an auditor reads it (for `assessment verify`).

`verify` regenerates a bundle and compares it byte for byte; "differs" alone sends the auditor
hunting. Here a difference is named by what the file holds: a CSV or parquet table by its row key
(unit, indicator, rule, evidence id) and column, a .docx by its paragraph or table cell, a workbook
by sheet and cell, a notebook by cell, other text by line. Each line reads
"<where>: <regenerated> → <published>"; at most `CAP` lines per file, then how many more.
A file that cannot be parsed (damaged, or not what its name says) is still reported: as differing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

CAP = 20
EMPTY = "空"
# row keys, most specific first: the first set whose columns both tables have names a row
KEYS = [["unit_id", "indicator", "rule"], ["evidence_id"], ["record_id"], ["event_id"], ["unit_id", "indicator"], ["unit_id"]]


def describe(rel: str, regenerated: Path, published: Path, cap: int = CAP) -> list[str]:
    """Lines saying where `published` differs from `regenerated` (both exist and differ in bytes)."""
    reader = READERS.get(Path(rel).suffix.lower())
    found: list[str] = []
    if reader is not None:
        try:
            found = reader(regenerated, published)
        except Exception:  # noqa: BLE001 - a damaged or hostile file is a difference, not a crash
            found = ["无法按其格式读取，内容不同（cannot be read as its format; the bytes differ）"]
        if not found:
            found = ["内容相同而文件字节不同（格式、元数据或排版不同）（same content, different bytes: formatting or metadata）"]
    else:
        found = ["内容不同（differs）"]
    out = [f"{rel}：{line}" for line in found[:cap]]
    if len(found) > cap:
        out.append(f"{rel}：…另有 {len(found) - cap} 处不同（{len(found) - cap} more）")
    return out


def _show(value: object, limit: int = 60) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA or value == "":
        return EMPTY
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(a: str, b: str, width: int = 50) -> tuple[str, str]:
    """The two texts around where they first part."""
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, i - 10)
    cut = lambda t: ("…" if start else "") + t[start:start + width] + ("…" if len(t) > start + width else "")  # noqa: E731
    return cut(a), cut(b)


def _keyed(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The table indexed by its row label: the key's values, with #n where a key repeats."""
    df = df.copy()
    if key:
        label = df[key].astype(str).agg(" ".join, axis=1)
    else:
        label = pd.Series([f"第 {i + 2} 行" for i in range(len(df))], index=df.index)
    n = label.groupby(label).cumcount()
    label = label.where(n.eq(0), label + "#" + (n + 1).astype(str))
    df.index = label.values
    return df


def tables(expected: pd.DataFrame, published: pd.DataFrame, keys: list[list[str]] = KEYS) -> list[str]:
    """Rows missing or extra, columns missing or extra, then each differing cell as '<row> <column>: a → b'."""
    out = []
    cols_e, cols_p = list(expected.columns), list(published.columns)
    out += [f"缺少列 {c}（column {c} missing）" for c in cols_e if c not in cols_p]
    out += [f"多出列 {c}（extra column {c}）" for c in cols_p if c not in cols_e]
    key = next((k for k in keys if all(c in cols_e and c in cols_p for c in k)), [])
    e, p = _keyed(expected, key), _keyed(published, key)
    out += [f"{r}：发布的表中缺少这一行（row missing from the published table）" for r in e.index if r not in p.index]
    out += [f"{r}：多出这一行，重新生成时没有（extra row, not regenerated）" for r in p.index if r not in e.index]
    common = [c for c in cols_e if c in cols_p]
    both = [r for r in e.index if r in p.index]
    a = e.loc[both, common].astype(object).where(e.loc[both, common].notna(), None)
    b = p.loc[both, common].astype(object).where(p.loc[both, common].notna(), None)
    for r in both:
        for c in common:
            x, y = a.at[r, c], b.at[r, c]
            if _show(x, 10_000) != _show(y, 10_000):
                out.append(f"{r} {c} {_show(x)} → {_show(y)}")
    if not out and [c for c in cols_e] != [c for c in cols_p]:
        out.append("列的顺序不同（columns in another order）")
    if not out and list(e.index) != list(p.index):
        out.append("行的顺序不同（rows in another order）")
    return out


def _csv(regenerated: Path, published: Path) -> list[str]:
    from . import csvio

    read = lambda f: csvio.read_csv(f, dtype=str, na_values=None)  # noqa: E731
    return tables(read(regenerated), read(published))


def _parquet(regenerated: Path, published: Path) -> list[str]:
    a, b = pd.read_parquet(regenerated), pd.read_parquet(published)
    out = tables(a.astype(str).where(a.notna(), None), b.astype(str).where(b.notna(), None))
    if not out:
        out += [f"列 {c} 的类型 {a[c].dtype} → {b[c].dtype}（column type）" for c in a.columns if c in b.columns and a[c].dtype != b[c].dtype]
    return out


def _docx_items(path: Path) -> list[str]:
    """The paragraphs and table cells of a .docx body, in reading order."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    doc = docx.Document(str(path))
    items = []
    for block in doc.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            items.append(("段 paragraph", Paragraph(block, doc).text))
        elif tag == "tbl":
            for i, row in enumerate(Table(block, doc).rows, 1):
                for j, cell in enumerate(row.cells, 1):
                    items.append((f"表格 第 {i} 行第 {j} 格 table row {i} cell {j}", cell.text))
    for section in doc.sections:
        for part, name in ((section.header, "页眉 header"), (section.footer, "页脚 footer")):
            items += [(name, p.text) for p in part.paragraphs]
    return items


def _docx(regenerated: Path, published: Path) -> list[str]:
    a, b = _docx_items(regenerated), _docx_items(published)
    out = []
    for i, ((where, x), (_, y)) in enumerate(zip(a, b), 1):
        if x != y:
            xs, ys = _clip(x, y)
            out.append(f"第 {i} 项（{where}）“{xs or EMPTY}” → “{ys or EMPTY}”")
    if len(a) != len(b):
        out.append(f"段落与表格共 {len(a)} 项 → {len(b)} 项（{len(a)} → {len(b)} paragraphs and cells）")
    return out[:1] + ([f"另有 {len(out) - 1} 处文字不同（{len(out) - 1} more text differences）"] if len(out) > 1 else [])


def _xlsx(regenerated: Path, published: Path) -> list[str]:
    import openpyxl

    a, b = openpyxl.load_workbook(regenerated), openpyxl.load_workbook(published)
    out = [f"缺少工作表 {s}（sheet missing）" for s in a.sheetnames if s not in b.sheetnames]
    out += [f"多出工作表 {s}（extra sheet）" for s in b.sheetnames if s not in a.sheetnames]
    for name in (s for s in a.sheetnames if s in b.sheetnames):
        x, y = a[name], b[name]
        rows, cols = max(x.max_row, y.max_row), max(x.max_column, y.max_column)
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                u, v = x.cell(r, c).value, y.cell(r, c).value
                if u != v:
                    out.append(f"{name}!{x.cell(r, c).coordinate} {_show(u)} → {_show(v)}")
    return out


def _notebook(regenerated: Path, published: Path) -> list[str]:
    a = json.loads(regenerated.read_text(encoding="utf-8"))
    b = json.loads(published.read_text(encoding="utf-8"))
    ca, cb = a.get("cells", []), b.get("cells", [])
    out = []
    for i, (x, y) in enumerate(zip(ca, cb), 1):
        for part, zh in (("source", "源代码 source"), ("outputs", "输出 outputs")):
            sx, sy = json.dumps(x.get(part), ensure_ascii=False), json.dumps(y.get(part), ensure_ascii=False)
            if sx != sy:
                xs, ys = _clip(sx, sy)
                out.append(f"单元格 {i}（cell {i}）{zh}：{xs} → {ys}")
    if len(ca) != len(cb):
        out.append(f"单元格数 {len(ca)} → {len(cb)}（cells）")
    if not out and json.dumps(a.get("metadata"), sort_keys=True) != json.dumps(b.get("metadata"), sort_keys=True):
        out.append("笔记本元数据不同（notebook metadata differs）")
    return out


def _text(regenerated: Path, published: Path) -> list[str]:
    a = regenerated.read_text(encoding="utf-8").splitlines()
    b = published.read_text(encoding="utf-8").splitlines()
    out = []
    for i, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            xs, ys = _clip(x, y)
            out.append(f"第 {i} 行（line {i}）{xs or EMPTY} → {ys or EMPTY}")
    if len(a) != len(b):
        out.append(f"行数 {len(a)} → {len(b)}（lines）")
    return out


READERS: dict[str, Callable[[Path, Path], list[str]]] = {
    ".csv": _csv, ".parquet": _parquet, ".docx": _docx, ".xlsx": _xlsx, ".ipynb": _notebook,
    ".json": _text, ".md": _text, ".html": _text, ".txt": _text,
}
