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
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "templates" / OFFICE_FILE).is_file():
                return folder / "templates"
    raise OfficeError(f"找不到 templates/{OFFICE_FILE} / templates/{OFFICE_FILE} not found")


def load_office(path: str | Path | None = None) -> dict:
    """Read the office settings; a bare file name is looked up in the templates folder."""
    if path is None:
        path = templates_dir() / OFFICE_FILE
    path = Path(path)
    if not path.is_absolute() and path.parent == Path("."):
        path = templates_dir() / path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OfficeError(f"无法读取公文设置 {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise OfficeError(f"公文设置 {path} 应为键值表 / must be a mapping")
    return data


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
    """What was assessed, for titles: the office's wording, else the framework title without
    the jurisdiction and the word 年度 (the period label carries the year)."""
    if office.get("subject"):
        return str(office["subject"])
    title = str(fw.title)
    jurisdiction = str(getattr(fw, "jurisdiction", "") or "")
    if jurisdiction and title.startswith(jurisdiction):
        title = title[len(jurisdiction):]
    return re.sub(r"^\d{4}年", "", title).replace("年度", "")


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
    ctx["subject"] = subject_of(fw, office)
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
