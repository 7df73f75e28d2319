"""``docs/policies.md``, generated from the catalog (a test fails when the committed file is stale)."""

from __future__ import annotations

from collections.abc import Sequence

from mlinfra.policies.catalog import Rule

HEADER = """# Policy catalog

Generated from the rule catalog by `mlinfra policy list --format markdown > docs/policies.md`; do not edit.

Every rule runs two ways with the same code: offline on a planned environment (`mlinfra policy check
stacks/prod.yaml`, no credentials) and in the CrossGuard packs at deploy time (`pulumi preview
--policy-pack policies/residency --policy-pack policies/security`). Levels: the default below, changed per
environment by `policies.enforcement` and `policies.rules.<id>` in the stack file. Exceptions: `waivers`
(policy, resource, reason, owner, expiry; an expired waiver fails the check). A value unknown at plan time
(for example a key id before the key exists) fails a mandatory rule closed and says so.
"""


def catalog_markdown(rules: Sequence[Rule]) -> str:
    """The catalog as Markdown: an index table per pack, then one section per rule."""
    lines = [HEADER]
    for pack in ("residency", "security"):
        chosen = [r for r in rules if r.pack == pack]
        if not chosen:
            continue
        lines += [f"## {pack.capitalize()} pack ({len(chosen)} rules)", "",
                  "| id | title | severity | default | targets | controls |", "|---|---|---|---|---|---|"]
        lines += [f"| [`{r.id}`](#{r.id}) | {_cell(r.title)} | {r.severity} | {r.enforcement} | "
                  f"{', '.join(r.targets)} | {_cell(', '.join(str(c) for c in r.controls)) or '-'} |" for r in chosen]
        lines.append("")
    lines += ["## Rules", ""]
    for rule in rules:
        checks = "the whole plan" if rule.scope == "stack" else ", ".join(f"`{t}`" for t in rule.types)
        lines += [
            f"### {rule.id}", "", f"**{rule.title}** · {rule.severity} · default {rule.enforcement} · "
            f"{rule.pack} pack · targets: {', '.join(rule.targets)}", "",
            f"- Why: {rule.rationale}",
            f"- Checks: {rule.doc or '-'} ({checks})",
            f"- Fix: {rule.fix}",
            f"- Controls: {', '.join(str(c) for c in rule.controls) or 'none mapped'}", "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
