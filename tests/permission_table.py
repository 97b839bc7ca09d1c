"""The URL × role × status table's parts (tests/test_permissions.py): the roles, the row type and
`expect`. Feature modules in tests/permission_pages/ build their rows from these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

ROLES = ("anonymous", "consultant", "other_consultant", "specialist", "manager", "outsider", "hq")
LOGIN = 302  # anonymous: LoginRequiredMiddleware sends them to the login page


def expect(default: int, **overrides: int) -> dict[str, int]:
    """A status for each role: `default` for every signed-in role unless overridden."""
    statuses = dict.fromkeys(ROLES, default)
    statuses["anonymous"] = LOGIN
    statuses.update(overrides)
    return statuses


@dataclass(frozen=True)
class Page:
    name: str  # URL name
    kwargs: Callable[[SimpleNamespace], dict] = lambda o: {}
    expected: dict[str, int] = field(default_factory=dict)
    method: str = "get"
    data: dict | Callable[[SimpleNamespace], dict] = field(default_factory=dict)  # or built from the objects
    public: bool = False  # anonymous visitors are answered, not sent to the login page
    note: str = ""  # tells apart two rows for the same URL and method

    def id(self, role: str) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.method.upper()} {self.name}{note} as {role}"
