"""Custom components from installed extensions, referenced from the stack config.

An extension package registers a component class under the entry point group ``mlinfra.components``::

    [project.entry-points."mlinfra.components"]
    audit-archive = "acme_mlinfra.components:AuditArchive"

The class follows mlinfra's component contract: a nested pydantic ``Args`` model and
``__init__(self, name, args, opts=None)``. A stack file then uses it by entry point name::

    extensions:
      - {component: audit-archive, name: audit, settings: {retention_days: 400}}

``settings`` is validated against ``Args`` (located errors, like the rest of the file); the component is
created inside the platform with the target's provider, so the policy packs judge what it creates like
everything else.
"""

from __future__ import annotations

import difflib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig

COMPONENTS_GROUP = "mlinfra.components"
TRANSFORMS_GROUP = "mlinfra.transforms"


class ExtensionError(ValueError):
    """An extension is missing, broken, or its settings are invalid (bad input: the message says where)."""


def installed() -> dict[str, metadata.EntryPoint]:
    """Component entry points of installed extensions, by name."""
    return {entry.name: entry for entry in metadata.entry_points(group=COMPONENTS_GROUP)}


def load_component(name: str, *, with_args: bool = True) -> type[Any]:
    """The component class an extension registered as ``name`` (with a nested ``Args`` unless ``with_args`` is
    off: a replacement takes the arguments of the built-in it subclasses)."""
    entries = installed()
    if name not in entries:
        raise ExtensionError(_unknown(name, entries))
    entry = entries[name]
    try:
        component = entry.load()
    except Exception as exc:  # a broken extension is reported, never a traceback
        raise ExtensionError(f"component {name!r} ({entry.value}) could not be loaded: "
                             f"{type(exc).__name__}: {exc}") from None
    args = getattr(component, "Args", None)
    if not isinstance(component, type):
        raise ExtensionError(f"component {name!r} ({entry.value}) must be a class")
    if with_args and not (isinstance(args, type) and issubclass(args, BaseModel)):
        raise ExtensionError(f"component {name!r} ({entry.value}) must be a class with a nested pydantic Args model")
    return component


def load_transform(name: str, config: StackConfig) -> Any:
    """The resource transformation an extension registered as ``name`` (group ``mlinfra.transforms``).

    The entry point names a factory ``make(config) -> transformation``; the transformation is a Pulumi
    ``ResourceTransformation`` applied to every resource of the platform (labels, tags, naming rules...).
    """
    entries = {entry.name: entry for entry in metadata.entry_points(group=TRANSFORMS_GROUP)}
    if name not in entries:
        close = difflib.get_close_matches(name, sorted(entries), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ExtensionError(f"unknown transform {name!r}{hint} (installed: {', '.join(sorted(entries)) or 'none'}); "
                             f"install the extension package that provides it (entry point group {TRANSFORMS_GROUP})")
    try:
        transform = entries[name].load()(config)
    except Exception as exc:  # a broken extension is reported, never a traceback
        raise ExtensionError(f"transform {name!r} ({entries[name].value}) could not be set up: "
                             f"{type(exc).__name__}: {exc}") from None
    if not callable(transform):
        raise ExtensionError(f"transform {name!r} ({entries[name].value}) must return a callable transformation")
    return transform


def builtin_components() -> dict[str, type[Any]]:
    """Every built-in component class by class name (all targets and the in-cluster layer)."""
    import importlib
    import inspect
    import pkgutil

    from mlinfra.components.base import Component

    found: dict[str, type[Any]] = {}
    for family in ("gcp", "aws", "kubernetes", "onprem"):
        package = importlib.import_module(f"mlinfra.components.{family}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, Component) and cls is not Component and cls.__module__ == module.__name__:
                    found[cls.__name__] = cls
    return found


def replacements_of(config: StackConfig) -> dict[type[Any], type[Any]]:
    """``replace: {BuiltInClass: entry point}`` of the config as classes; the replacement must subclass it."""
    if not config.replace:
        return {}
    builtins = builtin_components()
    mapping: dict[type[Any], type[Any]] = {}
    for original_name, entry in config.replace.items():
        if original_name not in builtins:
            close = difflib.get_close_matches(original_name, sorted(builtins), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExtensionError(f"replace.{original_name}: no built-in component {original_name!r}{hint}")
        original, replacement = builtins[original_name], load_component(entry, with_args=False)
        if not issubclass(replacement, original):
            raise ExtensionError(f"replace.{original_name}: {entry!r} ({replacement.__name__}) must subclass "
                                 f"{original_name}, so that it takes the same arguments and gives the same outputs")
        mapping[original] = replacement
    return mapping


def settings_of(component: type[Any], settings: dict[str, Any], where: str) -> BaseModel:
    """Validate ``settings`` against the component's ``Args``; errors name the config path."""
    try:
        return component.Args.model_validate(settings)  # type: ignore[no-any-return]
    except ValidationError as exc:
        problems = "; ".join(f"{where}.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise ExtensionError(problems) from None


def reference_issues(config: StackConfig, tree: Any, file: str) -> list[Any]:
    """Located issues for extensions the config names that are not installed or whose settings are invalid."""
    from mlinfra.stacks.loader import Issue, line_of

    issues = []
    for index, extension in enumerate(config.extensions):
        where = f"extensions[{index}]"
        try:
            settings_of(load_component(extension.component), dict(extension.settings), where)
        except ExtensionError as exc:
            issues.append(Issue(file, line_of(tree, where), f"{where}.component", str(exc)))
    try:
        replacements_of(config)
    except ExtensionError as exc:
        issues.append(Issue(file, line_of(tree, "replace"), "replace", str(exc)))
    for index, name in enumerate(config.transforms):
        try:
            load_transform(name, config)
        except ExtensionError as exc:
            issues.append(Issue(file, line_of(tree, f"transforms[{index}]"), f"transforms[{index}]", str(exc)))
    return issues


def _unknown(name: str, entries: dict[str, Any]) -> str:
    close = difflib.get_close_matches(name, sorted(entries), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    have = ", ".join(sorted(entries)) or "none"
    return (f"unknown component {name!r}{hint} (installed: {have}); install the extension package that provides "
            f"it (entry point group {COMPONENTS_GROUP})")
