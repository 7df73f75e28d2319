"""Tier 1: the YAML loader: every error names file, line and field path; random input never tracebacks."""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlinfra.stacks.loader import ConfigError, load, load_text

GOOD = """\
name: ml-dev
target:
  cloud: gcp
  region: europe-west4
  project: my-project-1
storage:
  buckets:
    - name: raw
    - name: models
apiVersion: mlinfra.dev/v1
"""


def _issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "env.yaml")
    return [str(i) for i in info.value.issues]


def test_good_file_loads(write_yaml: Callable[[str], Path]) -> None:
    cfg = load(write_yaml(GOOD))
    assert [b.name for b in cfg.storage.buckets] == ["raw", "models"]


def test_unknown_key_has_line_and_suggestion() -> None:
    text = GOOD.replace("    - name: models", "    - name: models\n      versionig: true")
    assert _issues(text) == ["env.yaml:10: storage.buckets[1].versionig: unknown field; did you mean 'versioning'?"]


def test_unknown_top_level_key_lists_close_match() -> None:
    assert _issues(GOOD + "strorage: {}\n") == ["env.yaml:11: strorage: unknown field; did you mean 'storage'?"]


def test_bad_literal_suggests() -> None:
    issues = _issues(GOOD.replace("cloud: gcp", "cloud: gpc"))
    assert issues[0].startswith("env.yaml:3: target.cloud: Input should be")
    assert "did you mean 'gcp'?" in issues[0]


def test_missing_required_field_points_at_parent() -> None:
    issues = _issues(GOOD.replace("  region: europe-west4\n", ""))
    assert issues == ["env.yaml:2: target.region: required field missing"]


def test_cross_field_error_is_located() -> None:
    text = GOOD.replace("    - name: raw", "    - name: raw\n      notifications:\n        - topic: nowhere")
    assert _issues(text) == [
        "env.yaml:10: storage.buckets[0].notifications[0].topic: unknown topic 'nowhere'; define it under "
        "events.topics (none defined)"
    ]


def test_several_errors_reported_together() -> None:
    text = GOOD.replace("cloud: gcp", "cloud: gcp\n  zonez: []") + "extra: 1\n"
    assert len(_issues(text)) == 2


def test_duplicate_yaml_key_is_an_error() -> None:
    issues = _issues(GOOD + "name: again\n")
    assert issues[0].startswith("env.yaml:11:") and "duplicate" in issues[0]


def test_api_version_is_required_and_checked() -> None:
    missing = _issues(GOOD.replace("apiVersion: mlinfra.dev/v1\n", ""))
    assert missing == ["env.yaml:1: apiVersion: missing: a stack file starts with 'apiVersion: mlinfra.dev/v1' "
                       "(the format version it is written for; docs/compatibility.md)"]
    (newer,) = _issues(GOOD.replace("mlinfra.dev/v1", "mlinfra.dev/v2"))
    assert newer.startswith("env.yaml:10: apiVersion: unknown version 'mlinfra.dev/v2': this mlinfra reads "
                            "mlinfra.dev/v1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "this one is empty"),
        ("- a\n- b\n", "this one is a CommentedSeq"),
        ("name: [unclosed\n", "YAML syntax"),
        ("\tname: x\n", "YAML syntax"),
    ],
)
def test_not_a_stack(text: str, expected: str) -> None:
    assert expected in _issues(text)[0]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(binary)


_yaml_text = st.text(alphabet=string.printable, max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yaml_text)
@example("-_")  # crashed the YAML parser itself with IndexError
def test_random_text_never_tracebacks(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except ConfigError as error:
        assert error.issues and all(str(i).startswith("fuzz.yaml") for i in error.issues)


_lines = GOOD.splitlines()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_lines) - 1), st.sampled_from(["delete", "dup", "mangle", "indent"]),
                  st.text(alphabet=string.ascii_letters + ":-[]{} 0123456789", max_size=12)),
        min_size=1, max_size=4,
    )
)
def test_mutated_stack_never_tracebacks(edits: list[tuple[int, str, str]]) -> None:
    lines = list(_lines)
    for index, op, junk in edits:
        index %= len(lines)
        if op == "delete":
            lines.pop(index)
        elif op == "dup":
            lines.insert(index, lines[index])
        elif op == "mangle":
            lines[index] = lines[index] + junk
        else:
            lines[index] = " " + lines[index]
        if not lines:
            lines = [""]
    try:
        load_text("\n".join(lines), "mut.yaml")
    except ConfigError as error:
        for issue in error.issues:
            assert issue.file == "mut.yaml" and issue.message
