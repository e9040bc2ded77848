"""The floors of the code (pyproject.toml [tool.importlinter], explained in docs/architecture.md) hold:
`lint-imports` passes on the tree, and it does catch an upward import or a cycle when one is added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("qbsync", "accounts", "invoices")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # The project's root on the path, as Django has it (grimp imports nothing; it reads the files).
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _add_import(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.mark.parametrize(
    ("module", "upward_import", "contract"),
    [
        # The spine reaching up into cross-record work.
        ("qbsync.sync.engine.history", "from qbsync.sync.work import sweep", "Inside the sync engine"),
        # A record kind reaching up into the tasks.
        ("qbsync.sync.kinds.accounts", "import qbsync.sync.tasks", "Inside the sync engine"),
        # The adapter reaching into the engine.
        ("qbsync.quickbooks.records", "import qbsync.sync.models", "The QBO adapter and the sandbox"),
        # The engine reaching into a domain service.
        ("qbsync.sync.kinds.invoices", "import invoices.services", "The sync engine sits below"),
        # The ground floor reaching up.
        ("qbsync.core.money", "import accounts.models", "core and firms are the ground floor"),
    ],
)
def test_an_upward_import_breaks_a_contract(tree_copy, tmp_path, module, upward_import, contract):
    tree = tmp_path / "tree"
    shutil.copytree(tree_copy, tree)
    _add_import(tree, module, upward_import)

    result = lint_imports(tree)

    assert result.returncode != 0, result.stdout
    assert contract in result.stdout


def test_a_cycle_inside_the_engine_breaks_a_contract(tree_copy, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(tree_copy, tree)
    # Two record kinds importing each other: allowed by the floors, refused as a cycle.
    _add_import(tree, "qbsync.sync.kinds.invoices", "import qbsync.sync.kinds.payments")
    _add_import(tree, "qbsync.sync.kinds.payments", "import qbsync.sync.kinds.invoices")

    result = lint_imports(tree)

    assert result.returncode != 0, result.stdout
    assert "No import cycles inside the sync engine" in result.stdout
