"""The issuing office's settings (templates/office.yaml) and the wording drawn from them.

Every sentence a user reads comes from the office file; code only fills its placeholders.
"""

from __future__ import annotations

import copy
import math
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from .docformat import chinese_date, unfold

OFFICE_FILE = "office.yaml"
QUARTERS = {"1": "一", "2": "二", "3": "三", "4": "四"}


class OfficeError(ValueError):
    """The office file is missing, malformed, or uses a placeholder the code does not know."""


def templates_dir() -> Path:
    """The project's templates/ folder: $ASSESSMENT_TEMPLATES, else found above the cwd or this package."""
    env = os.environ.get("ASSESSMENT_TEMPLATES")
    if env:
        return Path(env)
    # the checkout this package runs from comes first: a templates/ folder above some working
    # directory must not silently replace the office's own settings
    for start in (Path(__file__).resolve(), Path.cwd()):
        for folder in (start, *start.parents):
            if (folder / "templates" / OFFICE_FILE).is_file():
                return folder / "templates"
    raise OfficeError(f"找不到 templates/{OFFICE_FILE} / templates/{OFFICE_FILE} not found")


def load_office(path: str | Path | None = None) -> dict:
    """Read the office settings; a bare file name is looked up in the templates folder."""
    folder = templates_dir().resolve()
    path = folder / (OFFICE_FILE if path is None else Path(path))
    if not path.resolve().is_relative_to(folder):  # settings are read only from the templates folder
        raise OfficeError(f"公文设置只能从模板目录 {folder} 读取：{path} / office settings are read only from the templates folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OfficeError(f"无法读取公文设置 {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise OfficeError(f"公文设置 {path} 应为键值表 / must be a mapping")
    return data


def office_for(fw: Any, override: dict | None = None, base: dict | None = None) -> dict:
    """The settings for one framework's documents: the office file, then its `jurisdictions`
    entry for the framework's jurisdiction, then its `frameworks` entry for the framework id, then
    `override` (a caller's partial dict). One file serves an office that runs several frameworks."""
    office = load_office() if base is None else base
    layers = [(office.get("jurisdictions") or {}).get(str(getattr(fw, "jurisdiction", "") or "")),
              (office.get("frameworks") or {}).get(str(getattr(fw, "id", "") or "")), override]
    out = {k: v for k, v in office.items() if k not in ("jurisdictions", "frameworks")}
    for layer in layers:
        if layer is not None and not isinstance(layer, dict):
            raise OfficeError("公文设置中 jurisdictions / frameworks 的每一项应为键值表 / each entry must be a mapping")
        out = merged(out, layer)
    return out


def merged(base: dict, override: dict | None) -> dict:
    """`override` on top of `base`, nested dicts merged key by key."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Strict(dict):
    def __missing__(self, key: str) -> Any:
        raise OfficeError(f"公文设置中有未知的占位符 {{{key}}} / unknown placeholder {{{key}}} in office settings")


def fill(pattern: str, ctx: dict, **extra: Any) -> str:
    """Fill a pattern from the office file; YAML line breaks inside Chinese prose are dropped."""
    return unfold(str(pattern)).format_map(_Strict({**ctx, **extra}))


def fill_keep_lines(pattern: str, ctx: dict, **extra: Any) -> str:
    """Fill a pattern keeping its explicit line breaks (table headers)."""
    return str(pattern).format_map(_Strict({**ctx, **extra}))


def fmt(x: Any, digits: int = 2) -> str:
    """92.5, 90, 87.25 — as an analyst writes scores; NaN is a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    value = round(float(x), digits)
    if value == 0:
        return "0"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def period_label(year: int, period: str | None) -> str:
    """2023年度, or 2023年第三季度 for a period such as 2023Q3."""
    text = str(period or "").strip()
    m = re.fullmatch(r"(\d{4})[Qq]([1-4])", text)
    if m:
        return f"{m.group(1)}年第{QUARTERS[m.group(2)]}季度"
    if re.fullmatch(r"\d{4}", text):
        return f"{text}年度"
    return text or f"{year}年度"


def subject_of(fw: Any, office: dict) -> str:
    """What was assessed, for titles: the office's wording, else the framework title without the
    year and the jurisdiction (in either order) and without the word 年度 (the period label carries
    the year): 厦门市2023年度政府网站与政务新媒体绩效考核 → 政府网站与政务新媒体绩效考核."""
    if office.get("subject"):
        return str(office["subject"])
    title = str(fw.title).strip()
    jurisdiction = str(getattr(fw, "jurisdiction", "") or "")
    for _ in range(2):
        title = re.sub(r"^\d{4}年(度)?", "", title)
        if jurisdiction and title.startswith(jurisdiction):
            title = title[len(jurisdiction):]
    return title.replace("年度", "")


TOPIC_TAIL = re.compile(r"(工作)?(综合|季度|年度|绩效|监管)?(工作)?(考评|考核|评估)$")


def topic_of(fw: Any, office: dict) -> str:
    """The work itself, without the assessment words: 数字政府建设工作季度考评 → 数字政府建设, for
    titles such as “…数字政府建设工作推进情况的通报” or “…综合考评结果的通报”."""
    if office.get("topic"):
        return str(office["topic"])
    subject = subject_of(fw, office)
    return TOPIC_TAIL.sub("", subject) or subject


def context(fw: Any, office: dict, period: str | None, n_units: int) -> dict:
    """Placeholders every pattern may use."""
    when = as_date(office.get("date"))
    due = as_date(office.get("due_date"))
    ctx = {
        "issuer": office.get("issuer", ""),
        "year": fw.year,
        "next_year": int(fw.year) + 1,
        "period_label": period_label(int(fw.year), period),
        "jurisdiction": getattr(fw, "jurisdiction", ""),
        "fw_title": fw.title,
        "n_units": n_units,
        "due_date": chinese_date(due) if due else unfold(office.get("due_date_text", "")),
    }
    due_pattern = office.get("due_by", "于{due_date}前") if due else office.get("due_by_text", "于{due_date}")
    ctx["due_by"] = unfold(str(due_pattern)).format_map(_Strict(ctx))
    ctx["subject"] = subject_of(fw, office)
    ctx["topic"] = topic_of(fw, office)
    ctx["date_text"] = chinese_date(when, office.get("blank_date", "　　　　年　　月　　日"))
    return ctx


def doc_number(fw: Any, office: dict) -> str:
    """洪政办函〔2024〕3号; an unset number is left blank for the office to fill in."""
    spec = office.get("doc_number") or {}
    if not spec.get("prefix"):
        return ""
    when = as_date(office.get("date"))
    year = spec.get("year") or (when.year if when else int(fw.year) + 1)
    number = spec.get("number")
    return f"{spec['prefix']}〔{year}〕{number if number not in (None, '') else '　　'}号"


def fixed_time(fw: Any, office: dict) -> datetime:
    """The time written into core properties: the document date, else 1 January after the year."""
    when = as_date(office.get("date"))
    return datetime(when.year, when.month, when.day) if when else datetime(int(fw.year) + 1, 1, 1)
