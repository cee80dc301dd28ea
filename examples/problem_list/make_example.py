"""Writes the synthetic example problem list (合成示例，非真实数据), as .xlsx and as .csv, byte for byte the same each time.

    python examples/problem_list/make_example.py

The rows imitate a monitoring platform's export for the demo county (data/raw/demo/2023, itself
synthetic): a merged title row and an export-time row above the header, account names rather than
unit names, dates with a time of day. Two rows are meant not to match (an account that is not a
unit's, a problem the mapping does not know), to show how unmatched rows are listed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEM = "监测平台导出（合成示例）"
TITLE = "泗洪县政务新媒体监测平台 问题清单导出（合成示例，非真实数据 synthetic example, not real findings）"
EXPORTED = "导出时间：2024-01-05 09:00　统计区间：2023-01-01 至 2023-12-31"
HEADER = ["序号", "账号名称", "平台", "问题描述", "发现时间", "链接"]
ROWS = [
    ["泗洪青阳发布", "微信公众号", "文章中出现错别字“泗红县”", "2023-03-14 09:12:00", "https://example.invalid/wx/1001"],
    ["双沟镇", "微信公众号", "超过7天未更新", "2023-04-02 10:00:00", "https://example.invalid/wx/1002"],
    ["县教育局", "门户网站栏目", "栏目链接无法访问", "2023-05-10 15:30:00", "https://example.invalid/web/1003"],
    ["泗洪教育", "微博", "信息更新不及时，最近一条为两周前", "2023/6/1", "https://example.invalid/wb/1004"],
    ["上 塘 镇", "抖音", "发布内容出现错别字", "2023年7月3日", "https://example.invalid/dy/1005"],
    ["泗洪公安（微博）", "微博", "互动回应不及时，网民留言5个工作日未回复", "2023-08-21 08:05:00", "https://example.invalid/wb/1006"],
    ["双沟镇", "微信公众号", "外链无法访问，且正文有错别字", "2023-09-12 11:11:00", "https://example.invalid/wx/1007"],
    ["泗洪美食推荐", "抖音", "发布商业广告", "2023-09-30 20:00:00", "https://example.invalid/dy/1008"],
    ["县民政局", "门户网站栏目", "页面样式错乱", "2023-10-16 14:00:00", "https://example.invalid/web/1009"],
    ["泗洪财政", "微信公众号", "以个人名义发布政务信息", "2023-11-08 16:20:00", "https://example.invalid/wx/1010"],
    ["泗洪青阳发布", "微信公众号", "标题错别字", "2023-12-01 09:00:00", "https://example.invalid/wx/1011"],
]
FIXED = dt.datetime(2000, 1, 1)


def records() -> list[list[object]]:
    """The rows as the platform numbers them (序号 1, 2, …)."""
    return [[i, *row] for i, row in enumerate(ROWS, 1)]


def write_csv(path: Path, encoding: str = "utf-8-sig") -> Path:
    """The export as CSV (title line, export-time line, header, rows), in the given encoding."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([TITLE])
    w.writerow([EXPORTED])
    w.writerow(HEADER)
    w.writerows(records())
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path) -> Path:
    """The export as a workbook: sheet 问题清单, title rows merged across the table, fixed times inside."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "问题清单"
    ws.append([TITLE])
    ws.append([EXPORTED])
    ws.append(HEADER)
    for rec in records():
        ws.append(rec)
    ws.merge_cells("A1:F1")
    ws.merge_cells("A2:F2")
    for col, width in zip("ABCDEF", (6, 20, 14, 40, 20, 36)):
        ws.column_dimensions[col].width = width
    wb.properties.created = wb.properties.modified = FIXED
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps the save time into docProps/core.xml and every zip entry: both rewritten with
    # a fixed time, so the bytes never change
    stamp = FIXED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)
    return path


if __name__ == "__main__":
    print(write_xlsx(HERE / f"{STEM}.xlsx"))
    print(write_csv(HERE / f"{STEM}.csv"))
