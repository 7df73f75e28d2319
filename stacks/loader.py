"""Load a stack file: YAML → :class:`StackConfig`, with every problem located at file, line and field path.

Errors never surface as tracebacks: they are collected into one :class:`ConfigError` whose lines read
``stacks/prod.yaml:12: storage.buckets[1].versionig: unknown field; did you mean 'versioning'?``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mlinfra.stacks.config import ConfigIssues, StackConfig, format_loc

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One problem in a stack file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A stack file that cannot be used; ``issues`` lists every located problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def load(path: str | Path) -> StackConfig:
    """Read and validate a stack file. Raises :class:`ConfigError` on any problem."""
    return load_document(path)[0]


def load_document(path: str | Path) -> tuple[StackConfig, Any]:
    """Like :func:`load`, also returning the YAML tree (for :func:`line_of`)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Issue(file, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([Issue(file, None, "", "is a directory, expected a YAML stack file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Issue(file, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([Issue(file, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return _validate(text, file)


def load_text(text: str, file: str = "<string>") -> StackConfig:
    """Validate stack YAML given as text; ``file`` names it in messages."""
    return _validate(text, file)[0]


def _validate(text: str, file: str) -> tuple[StackConfig, Any]:
    tree = parse_yaml(text, file)
    if not isinstance(tree, dict):
        kind = "empty" if tree is None else f"a {type(tree).__name__}"
        raise ConfigError([Issue(file, 1, "", f"a stack file must be a mapping of sections, this one is {kind}")])
    version = _api_version_issues(tree, file)
    try:
        config = StackConfig.model_validate(_plain(tree))
    except ValidationError as exc:
        issues = version + list(_issues(exc, tree, file))
        raise ConfigError(sorted(issues, key=lambda i: (i.line or 0, i.path))) from None
    except RecursionError:
        raise ConfigError([Issue(file, None, "", "nesting too deep")]) from None
    if version:
        raise ConfigError(version)
    return config, tree


def _api_version_issues(tree: Any, file: str) -> list[Issue]:
    """Every stack file names the format version it is written for: a missing one is reported with the file's
    other problems; an unknown one stops here (the rest cannot be read by this version's rules)."""
    from mlinfra.stacks.config.stack import API_VERSION, SUPPORTED_API_VERSIONS

    if "apiVersion" not in tree:
        return [Issue(file, 1, "apiVersion", f"missing: a stack file starts with 'apiVersion: {API_VERSION}' "
                      "(the format version it is written for; docs/compatibility.md)")]
    value = tree["apiVersion"]
    if value not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(SUPPORTED_API_VERSIONS)
        raise ConfigError([Issue(file, _line(tree, ("apiVersion",)), "apiVersion",
                                 f"unknown version {value!r}: this mlinfra reads {supported}; upgrade mlinfra for "
                                 "a newer format, or see docs/compatibility.md")])
    return []


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def line_of(tree: Any, path: str) -> int | None:
    """1-based line of a config path such as ``storage.buckets[1].location`` (its deepest existing part)."""
    loc: list[str | int] = [int(index) if index else key for key, index in _PATH_PART.findall(path)]
    return _line(tree, tuple(loc)) if loc else (1 if tree is not None else None)


def parse_yaml(text: str, file: str = "<string>") -> Any:
    """Parse YAML keeping line information (round-trip mode); syntax errors become :class:`ConfigError`."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ConfigError([Issue(file, line, "", f"YAML syntax: {problem}")]) from None
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError([Issue(file, None, "", f"YAML syntax: {exc}")]) from None
    except Exception as exc:  # the parser itself can crash on odd input ('-_' raised IndexError)
        raise ConfigError([Issue(file, None, "", f"YAML could not be parsed ({type(exc).__name__}: {exc})")]) from None


def _plain(node: Any) -> Any:
    """Round-trip YAML nodes → plain dicts, lists and scalars (ruamel's string/number subclasses kept)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _issues(exc: ValidationError, tree: Any, file: str) -> Iterator[Issue]:
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        nested = (error.get("ctx") or {}).get("error")
        if isinstance(nested, ConfigIssues):
            for sub_loc, message in nested.issues:
                full = (*loc, *sub_loc)
                yield Issue(file, _line(tree, full), format_loc(full), message)
            continue
        yield Issue(file, _line(tree, loc), format_loc(_clean(loc)), _message(error, loc))


def _clean(loc: Loc) -> Loc:
    return tuple(p for p in loc if p != "[key]")


def _message(error: Any, loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        known = _fields_at(loc[:-1])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; allowed: {', '.join(known)}" if known else "")
        return f"unknown field{hint}"
    if kind == "missing":
        return "required field missing"
    message = str(error["msg"])
    if kind == "literal_error" and isinstance(error.get("input"), str):
        expected = [s.strip().strip("'") for s in str(error["ctx"]["expected"]).replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(error["input"], expected, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    return message


def _line(tree: Any, loc: Loc) -> int | None:
    """1-based line of the deepest node along ``loc`` that exists in the YAML tree."""
    node = tree
    line = _node_line(tree)
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _node_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _fields_at(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` inside StackConfig (for "did you mean")."""
    current: Any = StackConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (list, dict) and isinstance(part, int | str):
            args = typing.get_args(current)
            current = args[-1] if args else Any
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated wrappers down to the model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else annotation
            if len(members) != 1:
                return annotation
        else:
            return annotation
