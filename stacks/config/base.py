"""Shared building blocks of the stack config: the strict base model and located cross-field errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Loc = tuple[str | int, ...]

Name = Annotated[
    str,
    Field(
        pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$",
        description="Lower-case name: letters, digits and '-', 1-30 characters, starting with a letter.",
    ),
]


class StrictModel(BaseModel):
    """Base of every config model: immutable, unknown keys rejected, docs required on every field."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=False)


class ConfigIssues(ValueError):
    """Cross-field problems found by a model validator, each located by its path inside that model.

    Pydantic keeps the exception in the error context, so the loader can turn each issue into a
    ``file:line: path: message`` line. Used directly from Python, ``str()`` still reads well.
    """

    def __init__(self, issues: Iterable[tuple[Loc, str]]) -> None:
        self.issues: list[tuple[Loc, str]] = list(issues)
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" if loc else msg for loc, msg in self.issues))


def format_loc(loc: Loc) -> str:
    """Render a location tuple as a config path: ``storage.buckets[1].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def raise_issues(issues: list[tuple[Loc, str]]) -> None:
    """Raise :class:`ConfigIssues` when there is anything to report."""
    if issues:
        raise ConfigIssues(issues)


def duplicates(loc: Loc, names: Iterable[str]) -> list[tuple[Loc, str]]:
    """Issues for every repeated name in a list of named items, pointing at the repeat."""
    seen: dict[str, int] = {}
    issues: list[tuple[Loc, str]] = []
    for index, name in enumerate(names):
        if name in seen:
            issues.append(((*loc, index, "name"), f"duplicate name {name!r} (first used at index {seen[name]}); "
                           "names must be unique"))
        else:
            seen[name] = index
    return issues
