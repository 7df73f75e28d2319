"""Which part of the stack config produced a resource.

The platform wraps the construction of each building block in :func:`source`, naming the config path
(``storage.buckets[1]``). Resources created inside inherit that path; the offline plan records it so a
report can point at the YAML line. It is bookkeeping only: nothing here changes what gets deployed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CURRENT: ContextVar[str] = ContextVar("mlinfra_config_path", default="")


@contextmanager
def source(path: str) -> Iterator[None]:
    """Attribute every resource created inside the block to config ``path``."""
    token = _CURRENT.set(path)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> str:
    """The config path of the block being built ('' outside any :func:`source` block)."""
    return _CURRENT.get()
