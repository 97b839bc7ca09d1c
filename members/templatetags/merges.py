"""`{{ merge.moved|moved_summary }}`: what a merge moved, as the member page lists it."""

from django import template

register = template.Library()


@register.filter
def moved_summary(moved: dict) -> str:
    from members.merging import MOVED_LABELS

    return "，".join(f"{MOVED_LABELS.get(what, what)} {n}" for what, n in sorted((moved or {}).items()))
