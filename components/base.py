"""``Component``: the base of every mlinfra component, replaceable per environment by a subclass.

A platform team that needs its own flavour of one building block (a bucket with company defaults, a cluster
with an extra add-on) subclasses the built-in component in an extension package, registers the subclass
under the entry point group ``mlinfra.components`` and names it in the stack file::

    replace:
      GcsBucket: acme-bucket        # built-in class name -> entry point name

While the platform is built, every ``GcsBucket(...)`` the target layer creates is then an ``AcmeBucket``: the
same arguments and outputs (it is a subclass), anything extra it adds. Outside such a block, and for classes
nobody replaced, construction is plain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pulumi

_REPLACEMENTS: ContextVar[Mapping[type, type] | None] = ContextVar("mlinfra_replacements", default=None)


class Component(pulumi.ComponentResource):
    """Base of mlinfra's components (see the module docstring for replacement)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        chosen = (_REPLACEMENTS.get() or {}).get(cls, cls)
        return super().__new__(chosen)


@contextmanager
def replacements(mapping: Mapping[type, type]) -> Iterator[None]:
    """Construct ``mapping[cls]`` wherever ``cls`` is constructed, inside the block."""
    for original, replacement in mapping.items():
        if not (isinstance(replacement, type) and issubclass(replacement, original)):
            raise TypeError(f"{replacement!r} must subclass {original.__name__}")
    token = _REPLACEMENTS.set(dict(mapping))
    try:
        yield
    finally:
        _REPLACEMENTS.reset(token)
