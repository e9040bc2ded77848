"""The ground floor stays the ground floor: qbsync.core and qbsync.firms import no app above them, not even
inside a function (an import there still makes the lower floor depend on the upper one)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ABOVE = ("accounts", "invoices", "qbsync.sync", "qbsync.changes", "qbsync.health", "qbsync.demo")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, wherever the import statement sits (absolute names only)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def upward_imports(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted(folder.rglob("*.py"))
        for line, module in imported_modules(path)
        if any(module == top or module.startswith(top + ".") for top in ABOVE)
    ]


@pytest.mark.parametrize("package", ["qbsync.core", "qbsync.firms"])
def test_the_ground_floor_imports_nothing_above_it(package):
    assert upward_imports(package) == []


def test_the_scan_sees_function_local_imports(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from qbsync.sync.selectors import connection_for_firm\n")
    assert imported_modules(module) == [(2, "qbsync.sync.selectors")]
