"""The component contract (STYLE.md 1-2, 4), checked once for every target package: each ComponentResource
is registered as ``mlinfra:<target>:<ClassName>``, takes ``(name, args, opts)`` and documents itself; every
Args model is frozen, strict and documents each field's default; every component is exercised by an example."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pulumi
import pytest
from pydantic import BaseModel

from mlinfra.stacks.loader import load
from mlinfra.stacks.program import plan

STACKS = Path(__file__).resolve().parent.parent / "stacks"
TARGETS = ("gcp", "aws", "kubernetes", "onprem")
EXAMPLES = {"gcp": "gcp-*.yaml", "aws": "aws-*.yaml", "kubernetes": "*.yaml", "onprem": "*.yaml"}


def _modules(target: str) -> list[ModuleType]:
    package = importlib.import_module(f"mlinfra.components.{target}")
    return [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]


def _own(module: ModuleType, base: type) -> list[type]:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, base) and cls.__module__ == module.__name__]


@pytest.mark.parametrize("target", TARGETS)
def test_components_are_registered_under_their_class_name(target: str) -> None:
    classes = [cls for mod in _modules(target) for cls in _own(mod, pulumi.ComponentResource)]
    assert len(classes) >= 3
    for cls in classes:
        assert f'"mlinfra:{target}:{cls.__name__}"' in inspect.getsource(cls), cls
        assert cls.__doc__ and len(cls.__doc__) > 80, cls
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "name", "args", "opts"], cls


@pytest.mark.parametrize("target", TARGETS)
def test_args_are_frozen_strict_and_documented(target: str) -> None:
    models = [cls for mod in _modules(target) for cls in _own(mod, BaseModel)]
    assert len(models) >= 3
    for model in models:
        assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid", model
        for field, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{field} has no description"
            assert "Default" in info.description or "Required" in info.description, f"{model.__name__}.{field}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_component_is_used_by_an_example(target: str) -> None:
    classes = {f"mlinfra:{target}:{cls.__name__}" for mod in _modules(target)
               for cls in _own(mod, pulumi.ComponentResource)}
    used: set[str] = set()
    for path in STACKS.glob(EXAMPLES[target]):
        used |= {r.type for r in plan(load(path)).resources if r.type.startswith(f"mlinfra:{target}:")}
    assert used == classes
