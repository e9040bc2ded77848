"""Every error_cause the code can write is a FailureCause and has its own plain-words text on the errors
page. The causes are read from the source itself (SyncFailure(...) calls, error_cause=
arguments, assignments to a .cause), so a new cause written without a text fails here rather than showing
as "Other problem"."""

import ast
import importlib
from pathlib import Path

from qbsync.health.causes import GUIDES
from qbsync.sync.engine.causes import FailureCause

ROOT = Path(__file__).resolve().parents[3]
SCANNED = [ROOT / "qbsync", ROOT / "accounts", ROOT / "invoices"]
SKIPPED = ("sandbox", "migrations")
# Names under which the code keeps cause constants (resolved by attribute, e.g. causes.CHANGED_IN_QBO or
# FailureCause.NO_ITEM).
CAUSE_MODULES = {"causes": "qbsync.changes.causes", "FailureCause": "qbsync.sync.engine.causes.FailureCause"}
# Expressions that pass a cause along rather than name one; their sources are scanned where they are set.
PASSED_ALONG = {"cause", "failure.cause", "conflict.cause", "item.cause", 'f"{problem.reason}"'}
FAILURE_CLASSES = {"SyncFailure"}


def _namespace(dotted: str):
    """A module, or a class inside one (qbsync.sync.engine.causes.FailureCause)."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _python_files():
    for top in SCANNED:
        for path in sorted(top.rglob("*.py")):
            if not any(part in SKIPPED for part in path.relative_to(ROOT).parts):
                yield path


class CauseFinder(ast.NodeVisitor):
    def __init__(self, path: Path, source: str):
        self.path, self.source = path, source
        self.found: dict[str, str] = {}  # cause -> where
        self.unresolved: list[str] = []

    def _where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{node.lineno}"

    def _resolve(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value:
                self.found.setdefault(node.value, self._where(node))
        elif isinstance(node, ast.IfExp):
            self._resolve(node.body)
            self._resolve(node.orelse)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in CAUSE_MODULES
        ):
            value = getattr(_namespace(CAUSE_MODULES[node.value.id]), node.attr)
            self.found.setdefault(str(value), self._where(node))
        elif ast.get_source_segment(self.source, node) not in PASSED_ALONG:
            self.unresolved.append(f"{self._where(node)}: {ast.get_source_segment(self.source, node)}")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in FAILURE_CLASSES and node.args:
            self._resolve(node.args[0])
        for keyword in node.keywords:
            if keyword.arg == "error_cause":
                self._resolve(keyword.value)
        self.generic_visit(node)

    def _assigned(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for one, other in zip(target.elts, value.elts, strict=False):
                self._assigned(one, other)
        elif isinstance(target, ast.Attribute) and target.attr in ("cause", "error_cause"):
            self._resolve(value)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        # Field dicts handed to an update: {"error_cause": ...}
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "error_cause":
                self._resolve(value)
        self.generic_visit(node)


def causes_the_code_writes() -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    unresolved: list[str] = []
    for path in _python_files():
        source = path.read_text()
        finder = CauseFinder(path, source)
        finder.visit(ast.parse(source))
        for cause, where in finder.found.items():
            found.setdefault(cause, where)
        unresolved += finder.unresolved
    return found, unresolved


def test_every_cause_the_code_writes_has_its_own_text():
    found, unresolved = causes_the_code_writes()

    # The scan sees the causes of every writer: account and transaction services, bulk plans, reactions.
    assert {
        "duplicate_name",
        "no_item",
        "duplicate_doc_number",
        "two_accounts_one_name",
        "changed_since_preview",
        "customer_inactive_in_qbo",
        "changed_in_qbo",
    } <= set(found)
    assert unresolved == [], "a cause the scan cannot read: name it as a constant, or list it in PASSED_ALONG"
    without_text = {cause: where for cause, where in found.items() if cause not in GUIDES}
    assert without_text == {}, "add a CauseGuide in qbsync/health/causes.py for each"


def test_every_text_says_what_happened_how_to_fix_it_and_offers_a_fix():
    for cause, guide in GUIDES.items():
        assert guide.title, cause
        assert guide.what.endswith("."), cause
        assert guide.fix.endswith("."), cause
        assert guide.actions, cause


def test_every_cause_the_code_writes_is_a_failure_cause():
    found, _ = causes_the_code_writes()

    not_members = {cause: where for cause, where in found.items() if cause not in set(FailureCause)}
    assert not_members == {}, "add each to FailureCause in qbsync/sync/engine/causes.py"


def test_every_failure_cause_has_guidance_and_nothing_else_does():
    without_guidance = [cause.name for cause in FailureCause if cause not in GUIDES]
    assert without_guidance == [], "add a CauseGuide in qbsync/health/causes.py for each"
    assert all(isinstance(cause, FailureCause) for cause in GUIDES)


def test_the_scan_reads_failure_cause_members():
    source = 'fail(link, SyncFailure(FailureCause.NO_ITEM, "x"))\nitem.cause = causes.CHANGED_IN_QBO\n'
    finder = CauseFinder(ROOT / "example.py", source)
    finder.visit(ast.parse(source))

    assert set(finder.found) == {"no_item", "changed_in_qbo"}
    assert finder.unresolved == []
