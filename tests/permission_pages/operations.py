"""Operations (issue 13): /healthz answers everyone, signed in or not, the same (vipcrm/health.py)."""

from tests.permission_table import ROLES, Page

PAGES = [
    Page("healthz", expected=dict.fromkeys(ROLES, 200), public=True),
]
