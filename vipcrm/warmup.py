"""A web worker's start (vipcrm/wsgi.py): load now what its first requests would load, then put
all of it out of the garbage collector's way (issue 14).

A worker holds some 150,000 long-lived Python objects (Django, the apps, their URLs, views,
translations and templates), most of them loaded by its first request. Python's cyclic garbage
collector walks every one of them on each full collection, which a busy worker runs every 20-30
requests: 60-100 ms on a quiet machine, added to whichever request it falls in — the slowest
requests of the member list (p50 44 ms, p95 152 ms) were exactly those. Loaded here and then
frozen (`gc.freeze()`: kept for good, never walked again), a full collection only walks what
requests left behind: a few milliseconds; and a worker's first page is no longer a cold one.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Load what pages use (never the database), then freeze what is loaded. A failure only
    leaves the rest to the first requests, as without the warm-up: a broken module or template
    still fails the page that uses it, not the worker's start."""
    try:
        _load()
    except Exception:
        log.exception("warm-up failed; pages load what they need on their first request")
    finally:
        from django.db import connections

        connections.close_all()  # none should be open; a worker forked from here must not share one
    gc.collect()
    gc.freeze()


def _load() -> None:
    from django.conf import settings
    from django.template import TemplateDoesNotExist, TemplateSyntaxError, engines
    from django.urls import get_resolver
    from django.utils import translation

    get_resolver().reverse_dict  # noqa: B018 - imports every app's URLs and views, fills the resolver
    for code, _name in settings.LANGUAGES:
        with translation.override(code):  # activating a language loads its catalogs
            pass
    for engine in engines.all():
        for folder in getattr(engine, "dirs", []):  # the project's own templates (settings.TEMPLATES DIRS)
            for path in sorted(Path(folder).rglob("*.html")):
                try:
                    engine.get_template(path.relative_to(folder).as_posix())  # compiled once, kept by the cached loader
                except (TemplateDoesNotExist, TemplateSyntaxError) as e:
                    log.warning("warm-up skipped template %s: %s", path, e)
