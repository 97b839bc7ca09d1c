"""The apps' rooms (issue 12 item 7): reports reads every app, none of them imports reports; the
duties plumbing (runs, catch-up, outbox) imports no domain app, its work is passed in.

Read from the source with ast, every import statement anywhere in a module (a function-level
import counts too), tests and migrations aside."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_APPS = ("members", "visits", "complaints", "campaigns", "reports")
NOT_USING_REPORTS = ("visits", "complaints", "members", "campaigns", "accounts", "duties")


def imported_apps(path: Path) -> set[str]:
    """The top-level packages a module imports (relative imports stay in the app: skipped)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules(app: str) -> list[Path]:
    return sorted(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)


def offenders(app: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(app)
        for name in sorted(imported_apps(path) & set(forbidden))
    ]


@pytest.mark.parametrize("app", NOT_USING_REPORTS)
def test_no_app_imports_reports(app):
    assert modules(app), f"no modules found for {app}"
    assert offenders(app, ("reports",)) == []


def test_duties_imports_no_domain_app():
    assert offenders("duties", DOMAIN_APPS) == []


def test_the_check_sees_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reports.services import x\n    import visits.tasks\nfrom . import y\n")
    assert imported_apps(module) == {"reports", "visits"}
