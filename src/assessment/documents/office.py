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
    """The office file is missing, malformed, or uses a placeholder the code does not know.

    `zh` and `en` are the message in Chinese and English; `key` names the setting where known."""

    def __init__(self, zh: str, en: str | None = None, key: str | None = None):
        super().__init__(f"{zh}（{en}）" if en else zh)
        self.zh, self.en, self.key = zh, en, key


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


# The keys a jurisdiction entry may hold besides those at the top of the file: its own frameworks,
# and the rules annex's wording (whose defaults live in rules_annex.WORDING, not in the file).
ENTRY_ONLY_KEYS = {"frameworks", "rules_annex"}
# 县 → 县政府办公室 / 全县 / 县(级机关): what a jurisdiction's last character says of its office.
LEVELS = {c: (f"{c}政府办公室", f"全{c}", c) for c in "县市区旗州盟"}


def office_for(fw: Any, override: dict | None = None, base: dict | None = None, synthetic: bool = False) -> dict:
    """The settings for one framework's documents: the office file's jurisdiction-neutral top, then
    its `frameworks` entry for the framework id, then the `jurisdictions` entry for the framework's
    jurisdiction and that entry's own `frameworks` entry, then `override` (a caller's partial dict).

    Where the file has no entry for the jurisdiction, the issuer is derived from the jurisdiction
    (`<jurisdiction>人民政府办公室`), never taken from another jurisdiction, and `office_status`
    carries a warning. `synthetic`: the evidence is demo data; the documents say so (`demo:`)."""
    office = load_office() if base is None else base
    jurisdiction = str(getattr(fw, "jurisdiction", "") or "").strip()
    fw_id = str(getattr(fw, "id", "") or "")
    entries = office.get("jurisdictions") or {}
    if not isinstance(entries, dict):
        raise OfficeError("公文设置中 jurisdictions 应为键值表", "jurisdictions must be a mapping", "jurisdictions")
    entry = entries.get(jurisdiction)
    top = {k: v for k, v in office.items() if k not in ("jurisdictions", "frameworks")}
    if entry is not None:
        _check_entry(entry, f"jurisdictions.{jurisdiction}", set(top) | ENTRY_ONLY_KEYS)
    entry = dict(entry or {})
    layers = [(office.get("frameworks") or {}).get(fw_id), {k: v for k, v in entry.items() if k != "frameworks"},
              (entry.get("frameworks") or {}).get(fw_id), override]
    out = top
    for layer in layers:
        if layer is not None and not isinstance(layer, dict):
            raise OfficeError("公文设置中 jurisdictions / frameworks 的每一项应为键值表", "each entry must be a mapping")
        out = merged(out, layer)
    configured = bool(entries.get(jurisdiction) is not None or (override or {}).get("issuer"))
    out = _derived(out, jurisdiction)
    out["_status"] = {"jurisdiction": jurisdiction, "configured": configured, "issuer": out["issuer"],
                      "warning": None if configured else unconfigured_warning(jurisdiction, out)}
    from . import letterhead  # the office's own Word template, checked here so a run refuses it before it starts

    path = letterhead.path_of(out)
    if path is not None:
        font = letterhead.body_font(path)
        if font:  # generated text is set in the template's own body font
            out["fonts"] = {**(out.get("fonts") or {}), "body": font, "table": font}
    if synthetic:
        out = demo(out)
    return out


def _check_entry(entry: Any, where: str, known: set[str]) -> None:
    """A jurisdiction's entry: a mapping of keys the top of the file has (a misspelt key is refused, not ignored)."""
    if not isinstance(entry, dict):
        raise OfficeError(f"公文设置中 {where} 应为键值表", f"{where} must be a mapping", where)
    unknown = sorted(str(k) for k in entry if k not in known)
    if unknown:
        raise OfficeError(f"公文设置中 {where} 有未知的键：{'、'.join(unknown)}（可用的键见文件上部）",
                          f"unknown keys in {where}: {', '.join(unknown)}", f"{where}.{unknown[0]}")
    frameworks = entry.get("frameworks")
    if frameworks is not None and not isinstance(frameworks, dict):
        raise OfficeError(f"公文设置中 {where}.frameworks 应为键值表", f"{where}.frameworks must be a mapping", f"{where}.frameworks")


def _derived(office: dict, jurisdiction: str) -> dict:
    """Fill the settings left null from the jurisdiction's name: 涟水县 → 涟水县人民政府办公室,
    县政府办公室, 全县, 县. Nothing of another jurisdiction is used."""
    out = dict(office)
    if not out.get("issuer"):
        if not jurisdiction:
            raise OfficeError("考评方案没有写地区（jurisdiction），无法确定发文机关", "the framework names no jurisdiction: no issuer", "issuer")
        out["issuer"] = f"{jurisdiction}人民政府办公室"
    out["mark"] = out.get("mark") or out["issuer"]
    short, area, level = LEVELS.get(jurisdiction[-1:], (out["issuer"], jurisdiction, "本"))
    out["office_short"] = out.get("office_short") or short
    out["area"] = out.get("area") or area
    out["level"] = out.get("level") or level
    return out


def unconfigured_warning(jurisdiction: str, office: dict) -> str:
    """What a run says when the office file has no entry for the framework's jurisdiction (Chinese, English beside)."""
    zh, en = _unconfigured(jurisdiction, office)
    return f"{zh}（{en}）"


def _unconfigured(jurisdiction: str, office: dict) -> tuple[str, str]:
    cc = "未排抄送" if not (office.get("imprint") or {}).get("cc") else "抄送机关取通用设置"
    zh = (f"公文设置 templates/office.yaml 的 jurisdictions 中没有“{jurisdiction}”：发文机关按“{office['issuer']}”生成，"
          f"发文字号的机关代字留空待填，主送机关为“{office.get('recipients') or '—'}”，{cc}；"
          f"印发前请在 jurisdictions 下写明本单位的设置（见 README“本单位的公文设置”）")
    en = (f"templates/office.yaml has no entry for {jurisdiction} under jurisdictions: the issuer is derived as "
          f"{office['issuer']}, the document number prefix is left blank and the recipients are generic; "
          f"add your office's settings before sending (README: office settings)")
    return zh, en


def unconfigured_problem(office: dict):
    """The warning as one of the run's listed warnings (None when the jurisdiction has its settings)."""
    from ..problems import Problem

    status = office.get("_status") or {}
    if status.get("configured", True):
        return None
    zh, en = _unconfigured(status["jurisdiction"], office)
    return Problem(file="templates/office.yaml", column="jurisdictions", value=status["jurisdiction"], rule="office-unconfigured",
                   severity="warning", message_zh=zh, message_en=en)


def demo(office: dict) -> dict:
    """Documents of synthetic (demo) data: （演示） after the 发文机关标志, the signature and the
    printer, and a line under the 主送机关 saying the data are synthetic."""
    cfg = office.get("demo") or {}
    suffix = str(cfg.get("mark") or "（演示）")
    out = merged(office, {})
    out["mark"] = f"{out['mark']}{suffix}"
    out["signature"] = f"{out.get('signature') or out['issuer']}{suffix}"
    out["imprint"] = {**(out.get("imprint") or {}), "printer": f"{(out.get('imprint') or {}).get('printer') or out['issuer']}{suffix}"}
    out["_demo"] = {"mark": suffix, "line": str(cfg.get("line") or "（演示文书：本文所用考评数据为程序合成的演示数据。）")}
    out["_status"] = {**out["_status"], "synthetic": True}
    return out


def demo_line(office: dict, ctx: dict) -> str | None:
    """The line saying the data are synthetic (None for real data)."""
    d = office.get("_demo")
    return fill(d["line"], ctx) if d else None


def office_status(office: dict) -> dict:
    """What the manifest and the report notebook record of the office settings used: the jurisdiction,
    whether the file has its entry (else the warning), the letterhead and whether the data are a demo."""
    from . import letterhead

    status = {"synthetic": False, **(office.get("_status") or {})}
    path = letterhead.path_of(office)
    status["letterhead"] = None if path is None else {"file": path.name, "sha256": _sha256(path)}
    try:
        settings = templates_dir() / OFFICE_FILE
        status["settings_sha256"] = _sha256(settings) if settings.is_file() else None
    except OfficeError:
        status["settings_sha256"] = None
    return status


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
        "office_short": office.get("office_short") or office.get("issuer", ""),
        "area": office.get("area") or str(getattr(fw, "jurisdiction", "") or ""),
        "level": office.get("level") or "本",
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


BLANK_PREFIX = "　　　　"  # 发文机关代字 not set: four blanks the office fills in by hand


def doc_number(fw: Any, office: dict) -> str:
    """洪政办函〔2024〕3号. An unset number is left blank for the office to fill in; so is an unset
    prefix (　　　　〔2024〕　　号): the office writes its own 代字, no other office's is borrowed.
    `doc_number: false` prints no 发文字号 at all."""
    spec = office.get("doc_number")
    if spec is False:
        return ""
    spec = spec or {}
    when = as_date(office.get("date"))
    year = spec.get("year") or (when.year if when else int(fw.year) + 1)
    number = spec.get("number")
    prefix = spec.get("prefix") or BLANK_PREFIX
    return f"{prefix}〔{year}〕{number if number not in (None, '') else '　　'}号"


def fixed_time(fw: Any, office: dict) -> datetime:
    """The time written into core properties: the document date, else 1 January after the year."""
    when = as_date(office.get("date"))
    return datetime(when.year, when.month, when.day) if when else datetime(int(fw.year) + 1, 1, 1)
