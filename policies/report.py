"""Render policy reports: several environments in, one document out, in the format the reader needs.

Every renderer is a pure function ``(reports, rules) -> str``: ``reports`` are the verdicts of
:func:`mlinfra.policies.check.check_file`, one per environment, and ``rules`` is the catalog (SARIF
describes each rule that has a result; the other formats read what they need from the findings). The CLI
picks one from :data:`FORMATS` by name.

What every format keeps, whoever reads it:

- waived findings are reported with the waiver's owner and expiry, never dropped;
- an expired waiver is a failure of its own, located at the waiver's line in the stack file;
- a value that could not be known at plan time is marked (the rule failed closed);
- nothing depends on the terminal: no colour unless asked, fixed width, stable order.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mlinfra.policies.catalog import Enforcement, Rule, Severity
from mlinfra.policies.engine import Finding, Report, WaiverStatus, summarize

Renderer = Callable[[Sequence[Report], Sequence[Rule]], str]

TOOL = "mlinfra"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
JSON_FORMAT = "mlinfra-policy-report/v1"
EXPIRED_WAIVER_RULE = "mlinfra-waiver-expired"
FINGERPRINT_KEY = "mlinfraFinding/v1"
GITHUB_COMMENT_LIMIT = 65536
"""GitHub refuses issue and pull-request comments longer than this many characters."""

SARIF_LEVELS: dict[Enforcement, str] = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
SECURITY_SEVERITY: dict[Severity, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
"""GitHub code scanning's ``security-severity`` (a number from 0.0 to 10.0, written as a string): it ranks
>= 9.0 as critical, >= 7.0 high, >= 4.0 medium and below that low."""


# ----- shared helpers ------------------------------------------------------------------------------------


def tool_version() -> str:
    """mlinfra's installed version, ``0.0.0`` when it runs from a source tree that is not installed."""
    try:
        return importlib.metadata.version(TOOL)
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def information_uri() -> str | None:
    """The project's home page from the package metadata (``[project.urls]``), None when none is declared."""
    try:
        meta = importlib.metadata.metadata(TOOL)
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = [value.partition(",")[2].strip() for value in meta.get_all("Project-URL") or []]
    candidates = [*urls, meta.get("Home-page") or ""]
    return next((u for u in candidates if u.startswith(("https://", "http://"))), None)


def location(file: str, line: int | None) -> str:
    """``file:line``, or just ``file`` when the line is not known."""
    return f"{file}:{line}" if line is not None else file


def unknown_count(report: Report) -> int:
    """Findings whose value could not be known at plan time (each failed closed)."""
    return sum(1 for f in report.findings if f.unknown)


def unused_waivers(report: Report) -> list[WaiverStatus]:
    """Waivers that still hold but covered no finding: stale, or naming the wrong resource."""
    return [w for w in report.waivers if not w.expired and w.used == 0]


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Blocking first, then advisory, then waived; by rule id and resource within each group."""
    return sorted(findings, key=lambda f: (_group(f), f.rule.id, f.resource, f.message))


def _group(finding: Finding) -> int:
    return 2 if finding.waived else (0 if finding.blocking else 1)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _waiver_note(status: WaiverStatus) -> str:
    waiver = status.waiver
    return f"{waiver.policy} on {waiver.resource!r}"


def _expired_message(status: WaiverStatus) -> str:
    waiver = status.waiver
    return (f"waiver for {waiver.policy} on {waiver.resource!r} expired on {waiver.expires.isoformat()} "
            f"(owner: {waiver.owner}; reason: {waiver.reason}); renew it with a new 'expires' date or fix the "
            "finding and remove the waiver")


def _finding_text(finding: Finding) -> str:
    """The finding's message, plus what the reader must know about an expired waiver that matched it."""
    if finding.expired_waiver is not None:
        return f"{finding.message} (its waiver expired on {finding.expired_waiver.expires.isoformat()})"
    return finding.message


def verdict_line(reports: Sequence[Report]) -> str:
    """One sentence for the whole check, e.g. ``FAILED (2 mandatory violations in 1 of 3 environments)``."""
    total = len(reports)
    failed = [r for r in reports if r.failed]
    if failed:
        mandatory = sum(r.mandatory for r in failed)
        expired = sum(len(r.expired_waivers) for r in failed)
        parts = ([_plural(mandatory, "mandatory violation")] if mandatory else []) + (
            [_plural(expired, "expired waiver")] if expired else [])
        return f"FAILED ({' and '.join(parts)} in {len(failed)} of {_plural(total, 'environment')})"
    advisory = sum(r.advisory for r in reports)
    waived = sum(r.waived for r in reports)
    return f"PASSED ({_plural(total, 'environment')}, {_plural(advisory, 'advisory finding')}, {waived} waived)"


# ----- table (people, CI logs) ---------------------------------------------------------------------------


def table(reports: Sequence[Report], rules: Sequence[Rule], *, color: bool = False, width: int = 120) -> str:
    """Human output: a findings table per environment, its waivers and tallies, then the totals.

    Plain text unless ``color``: the same bytes in a terminal, a pipe or a CI log.
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, no_color=not color, force_terminal=color,
        color_system="standard" if color else None, markup=False, emoji=False, highlight=False,
        legacy_windows=False,
    )
    for index, report in enumerate(reports):
        if index:
            console.print()
        console.print(_table_environment(report, width))
    if len(reports) != 1:
        console.print()
        totals = summarize(reports)
        console.print(Text(
            f"Total: {_plural(totals['environments'], 'environment')}, "
            f"{sum(1 for r in reports if r.failed)} failed; " + _tallies(totals, sum(map(unknown_count, reports)))
        ))
    console.print(Text(f"mlinfra policy check: {verdict_line(reports)}",
                       style="bold red" if any(r.failed for r in reports) else "bold green"))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _tallies(counts: dict[str, int], unknown: int) -> str:
    return (f"mandatory {counts['mandatory']}, advisory {counts['advisory']}, waived {counts['waived']}, "
            f"expired waivers {counts['expired_waivers']}, unknown at plan time {unknown}, "
            f"evaluations {counts['evaluations']}, resources {counts['resources']}")


_KEEP_WHOLE = frozenset({"Level", "Rule", "Policy", "Location", "Expires", "Expired on"})
_FLEX_MIN = 14  # columns that wrap (resource, message, ...) get at least this many characters


def _grid(title: str, columns: Sequence[str], rows: Sequence[Sequence[Text]], width: int) -> Table:
    """A plain table; ids, locations and dates stay on one line whenever the width leaves room to wrap the rest.

    Nothing is ever cropped: when the width is too small for that, every column folds instead.
    """
    natural = [max(len(column), *(row[i].cell_len for row in rows)) for i, column in enumerate(columns)]
    whole = sum(n for n, column in zip(natural, columns, strict=True) if column in _KEEP_WHOLE)
    flexible = sum(1 for column in columns if column not in _KEEP_WHOLE)
    keep = whole + _FLEX_MIN * flexible + 3 * (len(columns) - 1) <= width
    grid = Table(title=title, title_justify="left", box=box.SIMPLE, show_edge=False, pad_edge=False,
                 expand=False, title_style="bold")
    for column in columns:
        grid.add_column(column, no_wrap=keep and column in _KEEP_WHOLE, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    return grid


def _table_environment(report: Report, width: int) -> Group:
    verdict = "FAIL" if report.failed else "PASS"
    parts: list[Any] = [Text.assemble(
        (f"{report.environment} ", "bold"), (f"({report.file}) ", ""),
        (verdict, "bold red" if report.failed else "bold green"),
    )]
    open_findings = [f for f in ordered(report.findings) if not f.waived]
    if open_findings:
        parts.append(_grid(f"Findings ({len(open_findings)})", ["Level", "Rule", "Resource", "Location", "Message"], [
            [Text(f.level + (" (unknown)" if f.unknown else ""), style="red" if f.blocking else "yellow"),
             Text(f.rule.id), Text(f.resource), Text(location(f.file, f.line)), Text(_finding_text(f))]
            for f in open_findings], width))
    else:
        parts.append(Text("No findings."))
    waived = [f for f in ordered(report.findings) if f.waiver is not None]
    if waived:
        parts.append(_grid(f"Waived ({len(waived)}): reported, not blocking",
                           ["Rule", "Resource", "Location", "Message", "Waiver"], [
            [Text(f.rule.id), Text(f.resource), Text(location(f.file, f.line)), Text(f.message),
             Text(f"{f.waiver.owner}, until {f.waiver.expires.isoformat()}: {f.waiver.reason}")]
            for f in waived if f.waiver is not None], width))
    if report.expired_waivers:
        parts.append(_grid(f"Expired waivers ({len(report.expired_waivers)}): each fails the check",
                           ["Policy", "Resource", "Location", "Owner", "Expired on", "Reason"], [
            [Text(s.waiver.policy, style="red"), Text(s.waiver.resource), Text(location(report.file, s.line)),
             Text(s.waiver.owner), Text(s.waiver.expires.isoformat()), Text(s.waiver.reason)]
            for s in report.expired_waivers], width))
    for status in unused_waivers(report):
        parts.append(Text(f"Unused waiver at {location(report.file, status.line)}: {_waiver_note(status)} matched "
                          "no finding; remove it, or check the policy id and resource name."))
    counts = {"mandatory": report.mandatory, "advisory": report.advisory, "waived": report.waived,
              "expired_waivers": len(report.expired_waivers), "evaluations": report.evaluations,
              "resources": report.resources}
    parts.append(Text(_tallies(counts, unknown_count(report)) + f", rules {report.rules}"))
    return Group(*parts)


# ----- json (machines) -----------------------------------------------------------------------------------


def _waiver_json(waiver: Any) -> dict[str, str]:
    return {"reason": waiver.reason, "owner": waiver.owner, "expires": waiver.expires.isoformat()}


def _finding_json(finding: Finding) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule": finding.rule.id, "title": finding.rule.title, "level": finding.level,
        "severity": finding.rule.severity, "status": "waived" if finding.waived else "violation",
        "blocking": finding.blocking, "unknown": finding.unknown, "message": finding.message,
        "resource": finding.resource, "type": finding.resource_type, "urn": finding.urn,
        "config_path": finding.config_path, "file": finding.file, "line": finding.line,
    }
    if finding.waiver is not None:
        data["waiver"] = _waiver_json(finding.waiver)
    if finding.expired_waiver is not None:
        data["expired_waiver"] = _waiver_json(finding.expired_waiver)
    return data


def _counts(report: Report) -> dict[str, int]:
    return {"mandatory": report.mandatory, "advisory": report.advisory, "waived": report.waived,
            "expired_waivers": len(report.expired_waivers), "unknown": unknown_count(report),
            "resources": report.resources, "evaluations": report.evaluations, "rules": report.rules}


def report_data(reports: Sequence[Report]) -> dict[str, Any]:
    """The JSON document as plain data: per environment its verdict, counts, findings and waivers; totals."""
    environments = []
    for report in reports:
        environments.append({
            "file": report.file, "name": report.environment, "verdict": "fail" if report.failed else "pass",
            "counts": _counts(report),
            "findings": [_finding_json(f) for f in ordered(report.findings)],
            "waivers": [{
                "index": s.index, "policy": s.waiver.policy, "resource": s.waiver.resource, **_waiver_json(s.waiver),
                "line": s.line, "expired": s.expired, "used": s.used,
            } for s in report.waivers],
        })
    totals = {**summarize(reports), "unknown": sum(map(unknown_count, reports)),
              "failed_environments": sum(1 for r in reports if r.failed)}
    return {
        "format": JSON_FORMAT, "tool": {"name": TOOL, "version": tool_version()},
        "verdict": "fail" if any(r.failed for r in reports) else "pass", "totals": totals,
        "environments": environments,
    }


def json_report(reports: Sequence[Report], rules: Sequence[Rule]) -> str:
    """Stable machine-readable JSON (documented by :func:`report_data`); keys in a fixed order."""
    return json.dumps(report_data(reports), indent=2, ensure_ascii=False) + "\n"


# ----- sarif (code scanning) -----------------------------------------------------------------------------


def artifact_uri(file: str) -> str:
    """A stack file path as a SARIF URI: relative paths stay relative, with forward slashes."""
    if PureWindowsPath(file).drive or file.startswith("\\\\"):
        return PureWindowsPath(file).as_uri()
    posix = file.replace("\\", "/")
    if posix.startswith("/"):
        return PurePosixPath(posix).as_uri()
    return urllib.parse.quote(posix, safe="/!$&'()*+,;=@")  # ':' stays escaped: it would read as a scheme


def fingerprint(*parts: str | None) -> str:
    """A stable hash of the given parts (SARIF ``partialFingerprints``)."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:32]


def _rule_name(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    controls = [str(c) for c in rule.controls]
    help_text = f"Fix: {rule.fix}." + (f" Controls: {', '.join(controls)}." if controls else "")
    help_markdown = f"**Fix:** {rule.fix}" + (f"\n\n**Controls:** {', '.join(controls)}" if controls else "")
    if rule.doc:
        help_text += f" Checks: {rule.doc}"
        help_markdown += f"\n\n**Checks:** {rule.doc}"
    tags = list(dict.fromkeys(["security", rule.pack, rule.severity, *rule.targets, *controls]))
    return {
        "id": rule.id, "name": _rule_name(rule.id),
        "shortDescription": {"text": rule.title}, "fullDescription": {"text": rule.rationale},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.enforcement]},
        "properties": {"tags": tags, "security-severity": SECURITY_SEVERITY[rule.severity], "precision": "very-high",
                       "severity": rule.severity, "pack": rule.pack},
    }


EXPIRED_WAIVER_DESCRIPTOR: dict[str, Any] = {
    "id": EXPIRED_WAIVER_RULE, "name": _rule_name(EXPIRED_WAIVER_RULE),
    "shortDescription": {"text": "Policy waivers are renewed or removed before they expire"},
    "fullDescription": {"text": "A waiver is an accepted exception with an owner and an end date; past that date "
                                "the exception is no longer accepted, so the check fails until someone decides."},
    "help": {"text": "Renew the waiver with a new 'expires' date (and a current reason), or fix the finding and "
                     "remove the waiver from the stack file's 'waivers' list.",
             "markdown": "Renew the waiver with a new `expires` date (and a current reason), or fix the finding and "
                         "remove the waiver from the stack file's `waivers` list."},
    "defaultConfiguration": {"level": "error"},
    "properties": {"tags": ["mlinfra", "waiver"], "precision": "very-high"},
}


def _sarif_location(file: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(file)}}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _sarif_result(finding: Finding, environment: str, index: int) -> dict[str, Any]:
    """One finding as a SARIF result; a waived one carries an accepted external suppression."""
    loc = _sarif_location(finding.file, finding.line)
    logical: dict[str, Any] = {"name": finding.resource, "kind": "resource"}
    if finding.urn:
        logical["fullyQualifiedName"] = finding.urn
    loc["logicalLocations"] = [logical]
    properties: dict[str, Any] = {"environment": environment, "resourceType": finding.resource_type,
                                  "configPath": finding.config_path, "unknown": finding.unknown,
                                  "severity": finding.rule.severity}
    if finding.expired_waiver is not None:
        properties["expiredWaiver"] = _waiver_json(finding.expired_waiver)
    result: dict[str, Any] = {
        "ruleId": finding.rule.id, "ruleIndex": index,
        "level": "error" if finding.level == "mandatory" else "warning",
        "message": {"text": _finding_text(finding)},
        "locations": [loc],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.rule.id, finding.urn or
                                                             f"{finding.file}#{finding.resource}", finding.message)},
        "properties": properties,
    }
    if finding.waiver is not None:
        w = finding.waiver
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{w.reason} (owner: {w.owner}; expires {w.expires.isoformat()})",
            "properties": {"owner": w.owner, "expires": w.expires.isoformat()},
        }]
    return result


def _sarif_expired(report: Report, status: WaiverStatus, index: int) -> dict[str, Any]:
    w = status.waiver
    loc = _sarif_location(report.file, status.line)
    loc["logicalLocations"] = [{"name": w.resource, "kind": "resource"}]
    return {
        "ruleId": EXPIRED_WAIVER_RULE, "ruleIndex": index, "level": "error",
        "message": {"text": _expired_message(status)},
        "locations": [loc],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(EXPIRED_WAIVER_RULE, report.file, w.policy, w.resource,
                                                             w.expires.isoformat())},
        "properties": {"environment": report.environment, "policy": w.policy, "owner": w.owner,
                       "expires": w.expires.isoformat()},
    }


def sarif_data(reports: Sequence[Report], rules: Sequence[Rule]) -> dict[str, Any]:
    """The SARIF 2.1.0 log as plain data: one run; driver rules = the catalog rules that have results."""
    catalog_order = {rule.id: i for i, rule in enumerate(rules)}
    used: dict[str, Rule] = {}
    for report in reports:
        for finding in report.findings:
            used.setdefault(finding.rule.id, next((r for r in rules if r.id == finding.rule.id), finding.rule))
    descriptors = [_rule_descriptor(r) for r in sorted(
        used.values(), key=lambda r: (catalog_order.get(r.id, len(catalog_order)), r.id))]
    if any(r.expired_waivers for r in reports):
        descriptors.append(EXPIRED_WAIVER_DESCRIPTOR)
    index_of = {d["id"]: i for i, d in enumerate(descriptors)}
    results = []
    for report in reports:
        results.extend(_sarif_result(f, report.environment, index_of[f.rule.id]) for f in ordered(report.findings))
        results.extend(_sarif_expired(report, s, index_of[EXPIRED_WAIVER_RULE]) for s in report.expired_waivers)
    driver: dict[str, Any] = {"name": TOOL, "version": tool_version(), "semanticVersion": tool_version()}
    uri = information_uri()
    if uri:
        driver["informationUri"] = uri
    driver["rules"] = descriptors
    return {
        "$schema": SARIF_SCHEMA, "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": driver},
            "automationDetails": {"id": "mlinfra/policy-check/"},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"verdict": "fail" if any(r.failed for r in reports) else "pass",
                           "environments": [{"name": r.environment, "file": r.file,
                                             "verdict": "fail" if r.failed else "pass"} for r in reports]},
        }],
    }


def sarif(reports: Sequence[Report], rules: Sequence[Rule]) -> str:
    """SARIF 2.1.0 for GitHub code scanning and other SARIF viewers (see :func:`sarif_data`)."""
    return json.dumps(sarif_data(reports, rules), indent=2, ensure_ascii=False) + "\n"


# ----- junit (CI test report views) ----------------------------------------------------------------------

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry (control characters); ElementTree escapes the rest."""
    return _XML_INVALID.sub("\ufffd", value)


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _xml_text(text)
    return element


def junit(reports: Sequence[Report], rules: Sequence[Rule]) -> str:
    """JUnit XML: a testsuite per environment, a testcase per finding (``all rules`` when it has none).

    Blocking findings and expired waivers are failures; advisory findings pass with their message in
    ``system-out``; waived findings are skipped with the waiver's reason, owner and expiry.
    """
    root = ET.Element("testsuites", {"name": "mlinfra policy check"})
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for report in reports:
        suite = _element(root, "testsuite", name=f"{report.environment} ({report.file})", file=report.file)
        properties = _element(suite, "properties")
        _element(properties, "property", name="environment", value=report.environment)
        _element(properties, "property", name="file", value=report.file)
        for key, value in _counts(report).items():
            _element(properties, "property", name=key, value=str(value))
        classname = f"{TOOL}.{report.environment}"
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for finding in ordered(report.findings):
            counts["tests"] += 1
            case = _element(suite, "testcase", classname=classname, name=f"{finding.rule.id} [{finding.resource}]",
                            file=finding.file, **({"line": str(finding.line)} if finding.line is not None else {}))
            detail = (f"{finding.rule.title}\nresource: {finding.resource} ({finding.resource_type})\n"
                      f"urn: {finding.urn or '-'}\nconfig: {finding.config_path or '-'} at "
                      f"{location(finding.file, finding.line)}\nfix: {finding.rule.fix}")
            if finding.waiver is not None:
                counts["skipped"] += 1
                w = finding.waiver
                _element(case, "skipped", detail, message=f"waived: {finding.message} (reason: {w.reason}; owner: "
                                                          f"{w.owner}; expires {w.expires.isoformat()})")
            elif finding.blocking:
                counts["failures"] += 1
                _element(case, "failure", detail, message=_finding_text(finding),
                         type="unknown-at-plan-time" if finding.unknown else "mandatory")
            else:
                _element(case, "system-out", f"advisory: {_finding_text(finding)}\n{detail}")
        for status in report.expired_waivers:
            counts["tests"] += 1
            counts["failures"] += 1
            w = status.waiver
            case = _element(suite, "testcase", classname=classname, name=f"waiver {w.policy} [{w.resource}]",
                            file=report.file, **({"line": str(status.line)} if status.line is not None else {}))
            _element(case, "failure", f"waiver at {location(report.file, status.line)}",
                     message=_expired_message(status), type="expired-waiver")
        if counts["tests"] == 0:
            counts["tests"] = 1
            _element(suite, "testcase", classname=classname, name="all rules", file=report.file)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ----- github (workflow commands → annotations) ----------------------------------------------------------


def escape_data(value: str) -> str:
    """Escape a workflow command's message as the runner expects."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property value (also ``:`` and ``,``, which delimit properties)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, message: str, *, file: str, line: int | None, title: str) -> str:
    path = file.replace("\\", "/")
    props = [f"file={escape_property(path)}"]
    if line is not None:
        props.append(f"line={line}")
    props.append(f"title={escape_property(title)}")
    return f"::{kind} {','.join(props)}::{escape_data(message)}"


def github(reports: Sequence[Report], rules: Sequence[Rule]) -> str:
    """GitHub Actions workflow commands: one annotation per finding and per expired waiver, then a summary.

    ``error`` for blocking findings and expired waivers, ``warning`` for advisory, ``notice`` for waived.
    """
    lines = []
    for report in reports:
        for f in ordered(report.findings):
            text = f"[{report.environment}] {f.resource}: {_finding_text(f)}"
            if f.waiver is not None:
                kind = "notice"
                text = (f"waived until {f.waiver.expires.isoformat()} (owner: {f.waiver.owner}; reason: "
                        f"{f.waiver.reason}): {text}")
            else:
                kind = "error" if f.blocking else "warning"
            lines.append(_command(kind, text, file=f.file, line=f.line, title=f.rule.id))
        for status in report.expired_waivers:
            lines.append(_command("error", f"[{report.environment}] {_expired_message(status)}", file=report.file,
                                  line=status.line, title=EXPIRED_WAIVER_RULE))
    lines.append(f"mlinfra policy check: {verdict_line(reports)}")
    return "\n".join(lines) + "\n"


# ----- markdown (pull-request comment) -------------------------------------------------------------------


def md_cell(value: str) -> str:
    """Text safe inside a Markdown table cell: no HTML, no column breaks, no line breaks."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    return value.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def md_code(value: str) -> str:
    """``value`` as inline code in a table cell (falls back to plain text when it holds a backtick)."""
    if "`" in value or "\n" in value:
        return md_cell(value)
    return f"`{value.replace('|', '&#124;')}`"


def _md_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_table(header: Sequence[str]) -> list[str]:
    return [_md_row(*header), _md_row(*("---" for _ in header))]


def _md_sections(report: Report) -> list[tuple[str, list[str], list[str]]]:
    """(heading, table header, rows) per detail section of one environment, in reading order."""
    groups = ordered(report.findings)
    blocking = [f for f in groups if f.blocking]
    advisory = [f for f in groups if not f.waived and not f.blocking]
    waived = [f for f in groups if f.waived]

    def finding_row(f: Finding) -> str:
        marker = " (unknown at plan time)" if f.unknown else ""
        return _md_row(md_code(f.rule.id), md_cell(f.resource), md_code(location(f.file, f.line)),
                       md_cell(_finding_text(f) + marker))

    sections = [
        ("Blocking", ["Rule", "Resource", "Location", "Message"], [finding_row(f) for f in blocking]),
        ("Advisory", ["Rule", "Resource", "Location", "Message"], [finding_row(f) for f in advisory]),
        ("Waived", ["Rule", "Resource", "Location", "Owner", "Expires", "Reason", "Message"], [
            _md_row(md_code(f.rule.id), md_cell(f.resource), md_code(location(f.file, f.line)),
                    md_cell(f.waiver.owner), f.waiver.expires.isoformat(), md_cell(f.waiver.reason),
                    md_cell(f.message))
            for f in waived if f.waiver is not None]),
        ("Expired waivers", ["Policy", "Resource", "Location", "Owner", "Expired on", "Reason"], [
            _md_row(md_code(s.waiver.policy), md_cell(s.waiver.resource), md_code(location(report.file, s.line)),
                    md_cell(s.waiver.owner), s.waiver.expires.isoformat(), md_cell(s.waiver.reason))
            for s in report.expired_waivers]),
        ("Unused waivers", ["Policy", "Resource", "Location", "Owner", "Expires"], [
            _md_row(md_code(s.waiver.policy), md_cell(s.waiver.resource), md_code(location(report.file, s.line)),
                    md_cell(s.waiver.owner), s.waiver.expires.isoformat())
            for s in unused_waivers(report)]),
    ]
    return [s for s in sections if s[2]]


def markdown(reports: Sequence[Report], rules: Sequence[Rule], *, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    """A pull-request comment: verdict heading, a tally row per environment, then details per environment.

    Details are cut, with a note saying how many rows were left out, so the comment stays within
    ``max_chars`` (GitHub's comment limit by default).
    """
    head = [f"## mlinfra policy check: {verdict_line(reports)}", ""]
    head += _md_table(["Environment", "File", "Verdict", "Mandatory", "Advisory", "Waived", "Expired waivers",
                       "Unknown at plan time", "Resources", "Evaluations"])
    for r in reports:
        head.append(_md_row(md_cell(r.environment), md_code(r.file), "**FAIL**" if r.failed else "pass",
                            str(r.mandatory), str(r.advisory), str(r.waived), str(len(r.expired_waivers)),
                            str(unknown_count(r)), str(r.resources), str(r.evaluations)))
    out = "\n".join(head) + "\n"
    reserve = 400  # room for the truncation note
    left_out = 0
    for report in reports:
        sections = _md_sections(report)
        if not sections:
            continue
        verdict = "FAILED" if report.failed else "passed"
        block = f"\n### {md_cell(report.environment)} ({md_code(report.file)}): {verdict}\n"
        for heading, header, rows in sections:
            if left_out:
                left_out += len(rows)
                continue
            table_head = f"{block}\n#### {heading} ({len(rows)})\n\n" + "\n".join(_md_table(header)) + "\n"
            block = ""
            if len(out) + len(table_head) + reserve > max_chars:
                left_out += len(rows)
                continue
            out += table_head
            for index, row in enumerate(rows):
                if len(out) + len(row) + 1 + reserve > max_chars:
                    left_out += len(rows) - index
                    break
                out += row + "\n"
    if left_out:
        out += (f"\n> Details truncated to fit a GitHub comment: {_plural(left_out, 'more row')} not shown. "
                "Run `mlinfra policy check` (table, json or sarif output) for the full report.\n")
    return out


FORMATS: dict[str, Renderer] = {
    "table": table,
    "json": json_report,
    "sarif": sarif,
    "junit": junit,
    "github": github,
    "markdown": markdown,
}
"""Output format name → renderer, for ``mlinfra policy check --format``."""
