"""The offline check: stack files in, one :class:`~mlinfra.policies.engine.Report` per environment out.

No engine, no credentials: each environment is planned in-process under Pulumi's mocks, then judged by the
catalog under its own enforcement settings and waivers. References to policy ids in the config (per-rule
levels, waivers) are checked against the catalog first, so a typo is bad input, not a silent no-op.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mlinfra.policies.catalog import Pack, Rule
from mlinfra.policies.engine import Report, evaluate
from mlinfra.policies.rules import BUILTIN

RULES_GROUP = "mlinfra.policies"


class PluginError(Exception):
    """An installed extension could not be loaded; the message names it and says why."""


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule mlinfra knows: the built-in catalog, then rules of installed extensions.

    An extension registers rules under the entry point group ``mlinfra.policies``; the entry point names a
    :class:`Rule`, a sequence of them, or a module exposing ``RULES``. Extension rules run everywhere the
    built-in ones do: ``mlinfra policy check``, ``policy list``, the CrossGuard packs.
    """
    rules = list(BUILTIN)
    for entry in sorted(metadata.entry_points(group=RULES_GROUP), key=lambda e: e.name):
        rules.extend(_plugin_rules(entry))
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            raise PluginError(f"policy id {rule.id!r} is defined twice ({seen[rule.id]} and "
                              f"{rule.check.__module__}); rule ids must be unique")
        seen[rule.id] = rule.check.__module__
    return tuple(rules)


def _plugin_rules(entry: metadata.EntryPoint) -> list[Rule]:
    where = f"entry point {entry.name!r} ({entry.value}) of group {RULES_GROUP}"
    try:
        loaded = entry.load()
    except Exception as exc:  # a broken extension is reported, never a traceback
        raise PluginError(f"{where} could not be loaded: {type(exc).__name__}: {exc}") from None
    found = getattr(loaded, "RULES", loaded)
    found = [found] if isinstance(found, Rule) else found
    if not isinstance(found, list | tuple) or not all(isinstance(r, Rule) for r in found):
        raise PluginError(f"{where} must name a Rule, a sequence of Rules or a module with RULES")
    return list(found)


def select(rules: Sequence[Rule], *, packs: Sequence[Pack] = (), targets: Sequence[str] = ()) -> list[Rule]:
    """The rules of the given packs and targets (all when empty)."""
    return [r for r in rules if (not packs or r.pack in packs) and (not targets or set(r.targets) & set(targets))]


def reference_issues(config: Any, tree: Any, file: str, rules: Sequence[Rule] | None = None) -> list[Any]:
    """Located issues for policy ids in ``policies.rules`` and ``waivers`` that the catalog does not have."""
    from mlinfra.stacks.loader import Issue, line_of

    known = {r.id for r in (rules if rules is not None else all_rules())}
    issues = []

    def unknown(path: str, rule_id: str) -> None:
        close = difflib.get_close_matches(rule_id, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; see `mlinfra policy list`"
        issues.append(Issue(file, line_of(tree, path), path, f"unknown policy id {rule_id!r}{hint}"))

    for rule_id in config.policies.rules:
        if rule_id not in known:
            unknown(f"policies.rules.{rule_id}", rule_id)
    for index, waiver in enumerate(config.waivers):
        if waiver.policy not in known:
            unknown(f"waivers[{index}].policy", waiver.policy)
    return issues


def check_file(
    path: str | Path, *, rules: Sequence[Rule] | None = None, packs: Sequence[Pack] = (),
    today: dt.date | None = None,
) -> Report:
    """Plan and judge one stack file. Raises the loader's ``ConfigError`` for unusable input."""
    from mlinfra.stacks.loader import ConfigError, Issue, line_of, load_document
    from mlinfra.stacks.program import plan, unbuildable_reason

    catalog = list(rules if rules is not None else all_rules())
    config, tree = load_document(path)
    file = str(path)
    from mlinfra.stacks.extensions import reference_issues as extension_issues

    issues = reference_issues(config, tree, file, catalog) + extension_issues(config, tree, file)
    reason = unbuildable_reason(config)
    if reason:
        issues.append(Issue(file, line_of(tree, "target.cloud"), "target.cloud", reason))
    if issues:
        raise ConfigError(issues)
    try:
        planned = plan(config)
    except (ValueError, TypeError) as exc:  # a provider SDK refusing an input: bad config, located at the root
        raise ConfigError([Issue(file, None, "", f"the program could not be planned: {exc}")]) from None
    return evaluate(planned, config, select(catalog, packs=packs), file=file,
                    locate=lambda p: line_of(tree, p), today=today)


def check_files(
    paths: Sequence[str | Path], *, packs: Sequence[Pack] = (), today: dt.date | None = None, jobs: int = 1,
) -> list[Report | list[Any]]:
    """Check several stack files, in order: a :class:`Report` each, or the file's located issues.

    With ``jobs > 1`` the files are spread over that many worker processes (fresh interpreters: planning
    is CPU-bound and Pulumi's runtime is not fork-safe).
    """
    work = [(str(p), tuple(packs), today) for p in paths]
    if jobs <= 1 or len(work) < 2:
        return [_check_one(item) for item in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(jobs, len(work))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_check_one, work, chunksize=max(1, len(work) // (workers * 4))))


def _check_one(item: tuple[str, tuple[Pack, ...], dt.date | None]) -> Report | list[Any]:
    from mlinfra.stacks.loader import ConfigError

    path, packs, today = item
    try:
        return check_file(path, packs=packs, today=today)
    except ConfigError as error:
        return list(error.issues)
