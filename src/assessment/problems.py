"""Problems found in input, as data first and messages last (the pandera way).

Every check in the project — reading evidence, validating it, loading a framework, checking
parameters — reports what is wrong as a list of :class:`Problem` records. Only at the edge
(command line, notebook) are they rendered as messages, Chinese first with English beside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in the input."""

    file: str
    message_zh: str
    message_en: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None
    rule: str | None = None
    severity: str = "error"  # "error" stops the run; "warning" is listed and the run goes on

    def where(self) -> str:
        """The place in the input, as an analyst would look it up in Excel."""
        parts = [f"文件 {self.file}"]
        if self.sheet:
            parts.append(f"工作表 {self.sheet}")
        if self.row is not None:
            parts.append(f"第 {self.row} 行")
        if self.column:
            parts.append(f"列 {self.column}")
        return "，".join(parts)

    def render(self) -> str:
        """One line: place, value, Chinese message, then the English beside it."""
        level = "错误" if self.severity == "error" else "警告"
        value = "" if self.value is None else f"，值 “{_short(self.value)}”"
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{level}：{self.where()}{value}：{self.message_zh}（{self.message_en}）{rule}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if self.value is None else _short(self.value)
        return d


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class InputError(Exception):
    """Raised when input is invalid; carries every problem found, not only the first."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    def __str__(self) -> str:  # dataclass would otherwise print the field list
        return self.render()


class EvidenceError(InputError):
    """The evidence for a county-year cannot be used as it is."""


class FrameworkError(InputError):
    """A framework file is malformed."""


class ParameterError(InputError):
    """A command-line or notebook parameter is invalid."""


class BilingualValueError(ValueError):
    """Raised inside a pydantic validator with its sentence in both languages, so that
    `frameworks.explain_error` renders it Chinese first and English beside, not as pydantic's text."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]
