"""Generate the stack-file reference (Markdown) from the config models, so the docs cannot drift."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mlinfra.stacks.config import StackConfig


def config_reference() -> str:
    """Markdown: one section per model reachable from :class:`StackConfig`, one table row per field."""
    lines = [
        "# Stack file reference",
        "",
        "<!-- Generated from the pydantic models by `python -m mlinfra.stacks.reference`; do not edit. -->",
        "",
        "Every key of a stack file, section by section. Unknown keys are errors. The same information is in",
        "the JSON Schema (`mlinfra schema`, committed as `docs/stack.schema.json`).",
        "",
    ]
    for model, path in _models():
        lines += [f"## `{path}` — {model.__name__}", "", (model.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            lines.append(f"| `{field.alias or name}` | {_type(field.annotation)} | {_default(field)} | "
                         f"{(field.description or '').replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def _models() -> list[tuple[type[BaseModel], str]]:
    found: list[tuple[type[BaseModel], str]] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel], path: str) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((model, path))
        for name, field in model.model_fields.items():
            for child, suffix in _nested(field.annotation):
                visit(child, f"{path}.{name}{suffix}" if path else f"{name}{suffix}")

    visit(StackConfig, "")
    found[0] = (StackConfig, "(top level)")
    return found


def _nested(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    origin = typing.get_origin(annotation)
    suffix = "[]" if origin is list else "{}" if origin is dict else ""
    return [(m, suffix + s) for arg in typing.get_args(annotation) for m, s in _nested(arg)]


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " / ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if origin in (list, dict):
        args = ", ".join(_type(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel) or (isinstance(value, list) and any(isinstance(v, BaseModel) for v in value)):
            return "(see description)"
        return f"`{value}`" if value not in ([], {}) else "empty"
    if field.default is PydanticUndefined:
        return ""
    if field.default == "":
        return '`""`'
    return f"`{field.default}`" if field.default is not None else "none"


if __name__ == "__main__":
    print(config_reference())
