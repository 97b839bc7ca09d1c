"""Rows of the URL × role × status table (tests/test_permissions.py), one module per feature.

Each module defines `PAGES: list[Page]` (tests.permission_table.Page). A row's `kwargs` and `data`
get the table's `people` namespace (member_a of store A, its consultant, store B's manager as the
outsider, HQ, …) and may create what the row needs, as `on_store_a_template` does there."""

from __future__ import annotations

import importlib
import pkgutil


def feature_pages() -> list:
    pages = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        pages += importlib.import_module(f"{__name__}.{module.name}").PAGES
    return pages
