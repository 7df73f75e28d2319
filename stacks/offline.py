"""Run a Pulumi program in-process under Pulumi's mocks and record what it would create: the Plan.

No engine, no credentials, no network. Each run gets a fresh Pulumi context and root stack, so many
environments can be planned one after another in one process. The recorded inputs are the same
properties the engine and CrossGuard policies see (provider property names, e.g. ``uniformBucketLevelAccess``).
"""

from __future__ import annotations

import contextvars
import gc
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import register_stack_transformation, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlinfra.components import provenance
from mlinfra.stacks.fakes import fake_call, fake_outputs


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: what it is, where it sits, and which config made it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    inputs: Mapping[str, Any]
    config_path: str
    protect: bool = False
    dependencies: tuple[str, ...] = ()  # engine-style URNs it waits for (depends_on and input references), sorted

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this resource."""
        return {
            "urn": self.urn, "type": self.type, "name": self.name, "custom": self.custom,
            "parent": self.parent, "provider": self.provider, "config_path": self.config_path,
            "protect": self.protect, "dependencies": list(self.dependencies), "inputs": _jsonable(self.inputs),
        }


@dataclass
class Plan:
    """Everything one program run would create, in registration order."""

    project: str
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    invokes: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[PlannedResource]:
        """All resources with the given type token."""
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> PlannedResource:
        """The resource with this logical name (KeyError if absent or ambiguous)."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def children(self, urn: str | None) -> list[PlannedResource]:
        """Direct children of ``urn`` (``None``: top-level resources, parented by the stack)."""
        if urn is None:
            return [r for r in self.resources if r.parent is None]
        return [r for r in self.resources if r.parent == urn]

    def walk(self) -> Iterator[tuple[int, PlannedResource]]:
        """Depth-first (depth, resource) pairs, parents before children."""
        by_parent: dict[str | None, list[PlannedResource]] = {}
        for res in self.resources:
            by_parent.setdefault(res.parent, []).append(res)

        def visit(parent: str | None, depth: int) -> Iterator[tuple[int, PlannedResource]]:
            for res in by_parent.get(parent, []):
                yield depth, res
                yield from visit(res.urn, depth + 1)

        yield from visit(None, 0)

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict."""
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": _jsonable(self.outputs),
            "invokes": list(self.invokes),
        }


class _Recorder(pulumi_mocks.Mocks):
    """Answers the engine's questions with plausible values and remembers each resource's inputs."""

    def __init__(self, project: str, stack: str) -> None:
        self.project = project
        self.stack = stack
        self.local = threading.local()
        self.paths: dict[tuple[str, str], str] = {}
        self.origins: dict[tuple[str, str], list[str]] = {}  # every config path that made a (type, name)
        self.invokes: list[str] = []
        self.sequence: dict[tuple[str, str], int] = {}
        self.provider_inputs: dict[str, Any] = {}  # provider resource id -> its inputs (project, region)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.local.inputs = args.inputs
        if not args.custom:
            return None, {}
        id_ = f"{args.name}-id"
        if args.typ.startswith("pulumi:providers:"):
            self.provider_inputs[id_] = args.inputs
        provider = self.provider_inputs.get((args.provider or "").rpartition("::")[2], {})
        state = dict(args.inputs)
        state.update(fake_outputs(args.typ, args.name, args.inputs, provider.get("project") or self.project, provider))
        return str(state.get("id") or id_), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.invokes.append(args.token)
        provider = self.provider_inputs.get((args.provider or "").rpartition("::")[2], {})
        return fake_call(args.token, args.args, provider.get("project") or self.project, provider), []

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> None:
        # Runs synchronously in each resource's constructor: the program's own, deterministic order.
        self.sequence.setdefault((args.type_, args.name), len(self.sequence))
        path = provenance.current()
        self.origins.setdefault((args.type_, args.name), []).append(path or "the program")
        if path:
            self.paths[(args.type_, args.name)] = path
        return None


class _Monitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also recording parent, provider and URN of every registration."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(recorder)
        self.recorder = recorder
        self.lock = threading.Lock()
        self.order: list[tuple[str, str, str, bool, str, str, Any, bool, tuple[str, ...]]] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = getattr(self.recorder.local, "inputs", None)
        if inputs is None:
            inputs = rpc.deserialize_properties(request.object)
        self.recorder.local.inputs = None
        with self.lock:
            self.order.append((response.urn, request.type, request.name, bool(request.custom),
                               request.parent, request.provider, inputs, bool(request.protect),
                               tuple(request.dependencies)))
        return response


def run_program(program: Callable[[], None], *, project: str, stack: str) -> Plan:
    """Run ``program`` under mocks in a fresh Pulumi context and return its :class:`Plan`.

    Exceptions raised by the program (bad input, provider SDK argument checks) propagate unchanged.
    """
    # The SDK allocates several futures per output property; the cyclic GC would rescan them again and
    # again mid-run (over half the run time). Pause it for the run: everything the run allocated is then
    # still in the youngest generation, so collecting just that generation frees the run's garbage without
    # rescanning the whole heap (the provider SDKs' modules are large). The first run's survivors (mostly
    # those modules, imported lazily during it) are frozen so later full collections skip them too.
    global _FROZEN
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return contextvars.Context().run(_run, program, project, stack)
    finally:
        gc.collect(0)
        if not _FROZEN:
            gc.freeze()
            _FROZEN = True
        if was_enabled:
            gc.enable()


_FROZEN = False


def _run(program: Callable[[], None], project: str, stack: str) -> Plan:
    recorder = _Recorder(project, stack)
    monitor = _Monitor(recorder)
    pulumi.runtime.set_mocks(recorder, project=project, stack=stack, preview=False, monitor=monitor)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    register_stack_transformation(recorder.transformation)
    exported: dict[str, Any] = {}

    def body() -> None:
        program()
        root = pulumi.runtime.get_root_resource()
        outputs = getattr(root, "outputs", {}) or {}
        for key, value in outputs.items():
            exported[key] = _sync_await(pulumi.Output.from_input(value).future())

    _sync_await(run_pulumi_func(body))
    return _assemble(project, stack, monitor, recorder, exported)


def _assemble(project: str, stack: str, monitor: _Monitor, recorder: _Recorder, outputs: dict[str, Any]) -> Plan:
    """Rebuild URNs the way the engine writes them (the stack does not qualify its children's types).

    Raises ``ValueError`` for a URN registered twice: the engine refuses such a program too.
    """
    real: dict[str, tuple[str, str]] = {}  # mock urn -> (engine urn, qualified type)
    paths: dict[str, str] = {}
    seen: set[str] = set()
    entries: list[tuple[PlannedResource, tuple[str, ...]]] = []
    registered = sorted(monitor.order, key=lambda entry: recorder.sequence.get((entry[1], entry[2]), 1 << 30))
    for mock_urn, type_, name, custom, parent, provider, inputs, protect, deps in registered:
        parent_entry = real.get(parent) if parent else None
        qualified = f"{parent_entry[1]}${type_}" if parent_entry else type_
        urn = f"urn:pulumi:{stack}::{project}::{qualified}::{name}"
        parent_urn = parent_entry[0] if parent_entry else None
        path = recorder.paths.get((type_, name)) or (paths.get(parent_urn, "") if parent_urn else "")
        if urn in seen:
            made_by = " and ".join(repr(p) for p in recorder.origins.get((type_, name), []))
            raise ValueError(f"duplicate resource URN {urn}: registered more than once (made by {made_by}); "
                             "logical names must be unique per type and parent type")
        seen.add(urn)
        real[mock_urn] = (urn, qualified)
        paths[urn] = path
        entries.append((PlannedResource(
            urn=urn, type=type_, name=name, custom=custom, parent=parent_urn,
            provider=_provider_ref(provider, real), inputs=inputs or {}, config_path=path,
            protect=protect,
        ), deps))
    resources = [replace(res, dependencies=tuple(sorted({real[d][0] if d in real else d for d in deps})))
                 for res, deps in entries]
    return Plan(project=project, stack=stack, resources=resources, outputs=outputs,
                invokes=sorted(set(recorder.invokes)))


def _provider_ref(ref: str, real: dict[str, tuple[str, str]]) -> str | None:
    """Map a provider reference ``urn::id`` onto the engine-style URN of that provider."""
    if not ref:
        return None
    urn, _, id_ = ref.rpartition("::")
    return f"{real[urn][0]}::{id_}" if urn in real else ref


def _jsonable(value: Any) -> Any:
    """Convert recorded values (nested dicts/lists, resources, unknowns) to plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)
