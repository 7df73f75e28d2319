"""The documentation site: built with mkdocs in strict mode (broken links, anchors and pages missing from the
navigation fail), and its generated pages are current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from mlinfra.components.reference import components_markdown

ROOT = Path(__file__).resolve().parent.parent


def _build(project: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=project,
                          capture_output=True, text=True, timeout=300)


def test_site_builds_strict(tmp_path: Path) -> None:
    result = _build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "policies" / "index.html").is_file()
    assert (tmp_path / "site" / "getting-started" / "onprem" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0 and "no-such-page.md" in result.stdout + result.stderr


def test_components_reference_is_current() -> None:
    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == components_markdown(), (
        "docs/components.md is stale: python -m mlinfra.components.reference > docs/components.md")
