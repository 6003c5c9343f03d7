"""The README and the contract point at files that exist; `make run` says what it does on its first start."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/CONTRACT.md", "docs/DROPS.md", "docs/SECURITY.md")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PATH = re.compile(r"`((?:\.?[\w-]+/)+[\w.-]+\.(?:py|md|json|lua|txt|png|toml|ini))`")


def referenced(doc: str) -> set[str]:
    text = (ROOT / doc).read_text()
    targets = {t for t in LINK.findall(text) if "://" not in t and not t.startswith("mailto:")}
    found = {(ROOT / doc).parent.joinpath(t).resolve().relative_to(ROOT).as_posix() for t in targets}
    return found | set(PATH.findall(text))


@pytest.mark.parametrize("doc", DOCS)
def test_every_file_a_document_points_to_exists(doc):
    files = referenced(doc)
    assert files, f"{doc} points to no file: the pattern is wrong"
    missing = sorted(f for f in files if not (ROOT / f).exists())
    assert missing == [], f"{doc} points to files that do not exist: {missing}"


def test_the_readme_points_to_the_contract_not_to_a_spec_it_does_not_carry():
    readme = (ROOT / "README.md").read_text()
    assert "docs/CONTRACT.md" in referenced("README.md")
    assert "SPEC.md" not in readme
    contract = (ROOT / "docs/CONTRACT.md").read_text()
    assert {"docs/DROPS.md", "docs/SECURITY.md", "api/openapi.json"} <= referenced("docs/CONTRACT.md")
    for heading in ("What never breaks", "Settings", "Routes", "The order"):
        assert f"## {heading}" in contract or f". {heading}" in contract, heading


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_first_make_run_says_it_is_installing_and_shows_pips_progress(tmp_path):
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    plan = subprocess.run(["make", "-n", "run"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    install = next(line for line in plan.splitlines() if "pip install" in line)
    assert "--quiet" not in install and "-q " not in install and "--progress-bar on" in install
    assert "installing the pinned dependencies" in plan.split("pip install")[0]
