"""`{{ merge.moved|moved_summary }}`: what a merge moved, as the member page lists it."""

from django import template
from django.utils.translation import pgettext

register = template.Library()


@register.filter
def moved_summary(moved: dict) -> str:
    from members.merging import MOVED_LABELS

    parts = (f"{MOVED_LABELS.get(what, what)} {n}" for what, n in sorted((moved or {}).items()))
    return pgettext("list separator", "，").join(parts)
