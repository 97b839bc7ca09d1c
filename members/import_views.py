"""The import page: upload → preview (every bad row with its reason) → confirm → commit.

Between preview and confirm the uploaded bytes wait in a server-side file under VAR_DIR/imports,
named by a random token that is remembered in the uploader's session together with their user id,
the kind and the store. The confirm form sends only the token; the kind and store come from the
session, so nothing in the browser can change what is committed. The commit checks the file again,
since the database may have changed in between.
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import date
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Staff, Store
from vipcrm.permissions import STORE_LEADS, role_required

from .imports import (
    ACTION_LABELS,
    COLUMN_LABELS,
    KINDS,
    MEMBERS,
    PURCHASES,
    ImportPreview,
    import_commit,
    import_preview,
)
from .models import Gender
from .validators import mask_phone

SESSION_KEY = "members_import_pending"
DONE_KEY = "members_import_done"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# An abandoned preview's file is removed after this long (checked whenever someone uploads).
STASH_MAX_AGE = 24 * 60 * 60
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("导入内容"),
        choices=[(MEMBERS, gettext_lazy("会员")), (PURCHASES, gettext_lazy("消费记录"))],
        initial=MEMBERS,
    )
    store = forms.ModelChoiceField(
        label=gettext_lazy("门店"),
        queryset=Store.objects.none(),
        required=False,
        empty_label=gettext_lazy("按文件中的“门店”列"),
        help_text=gettext_lazy("选定门店后，文件可以没有“门店”列；有则必须一致。"),
    )
    file = forms.FileField(
        label=gettext_lazy("文件"),
        help_text=gettext_lazy("CSV（UTF-8 或 GBK 编码）或 Excel .xlsx；第一行为表头。"),
    )

    def __init__(self, *args: Any, user: Staff, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        if user.is_hq:
            self.fields["store"].queryset = Store.objects.filter(is_active=True)
        else:
            # A store user imports into their own store only: the field is shown, fixed.
            self.fields["store"].queryset = Store.objects.filter(pk=user.store_id)
            self.fields["store"].initial = user.store_id
            self.fields["store"].disabled = True
            self.fields["store"].required = True
            self.fields["store"].empty_label = None
            self.fields["store"].help_text = ""

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("文件不能超过 %(mb)s MB。") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
        return f


# --- The file waiting between preview and confirm --------------------------------------------

def _stash_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _stash_path(token: str) -> Path | None:
    if not _TOKEN_RE.match(token or ""):
        return None
    return _stash_dir() / f"{token}.upload"


def _discard(request: HttpRequest) -> None:
    pending = request.session.pop(SESSION_KEY, None)
    if pending:
        path = _stash_path(pending.get("token", ""))
        if path is not None:
            path.unlink(missing_ok=True)


def _prune_stale() -> None:
    cutoff = time.time() - STASH_MAX_AGE
    for path in _stash_dir().glob("*.upload"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def _stash(request: HttpRequest, *, data: bytes, kind: str, store: Store | None, filename: str) -> str:
    """Keep the upload for the confirm step; one pending import per session."""
    _discard(request)
    _prune_stale()
    token = secrets.token_urlsafe(32)
    path = _stash_path(token)
    path.write_bytes(data)
    path.chmod(0o600)
    request.session[SESSION_KEY] = {
        "token": token, "user_id": request.user.pk, "kind": kind,
        "store_id": store.pk if store else None, "filename": filename,
    }
    return token


def _pending(request: HttpRequest, token: str) -> dict[str, Any] | None:
    """The pending import if `token` is this session's and this user's, else None."""
    pending = request.session.get(SESSION_KEY)
    if not pending or not token or pending.get("user_id") != request.user.pk:
        return None
    if not secrets.compare_digest(str(pending.get("token", "")), token) or pending.get("kind") not in KINDS:
        return None
    return pending


# --- Views ------------------------------------------------------------------------------

def _shown(value: Any, name: str, staff_names: dict[int, str]) -> str:
    """A value as the preview shows it: dates as 2024-05-01, yes/no, 女/男, staff by name."""
    if value is None or value == "":
        return "—"
    if name == "consultant":
        return staff_names.get(value, str(value))
    if name == "gender":
        return str(Gender(value).label)
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _preview_context(preview: ImportPreview, **extra: Any) -> dict[str, Any]:
    samples = []
    for r in preview.samples():
        if preview.kind == MEMBERS:
            cells = [r.card_no, r.name, mask_phone(r.phone), r.store.code, r.joined_on.isoformat(), r.tier or "C"]
        else:
            cells = [r.receipt_no, r.card_no, r.store.code, r.date.isoformat(), r.amount, r.consultant or ""]
        samples.append({"row": r.row, "cells": cells, "action": ACTION_LABELS[r.action]})
    shown_updates = preview.updates()[:200]
    staff_ids = {v for r in shown_updates for v in r.changes.get("consultant", ()) if v}
    staff_names = {s.pk: str(s) for s in Staff.objects.filter(pk__in=staff_ids)} if staff_ids else {}
    updates = [
        {
            "row": r.row, "card_no": r.card_no, "name": r.name,
            "changes": [
                (COLUMN_LABELS[name], _shown(old, name, staff_names), _shown(new, name, staff_names))
                for name, (old, new) in r.changes.items()
            ],
        }
        for r in shown_updates
    ]
    if preview.kind == MEMBERS:
        sample_headers = [_("卡号"), _("姓名"), _("手机"), _("门店"), _("入会日期"), _("等级")]
    else:
        sample_headers = [_("小票号"), _("卡号"), _("门店"), _("日期"), _("金额"), _("导购")]
    return {
        "preview": preview, "samples": samples, "sample_headers": sample_headers, "updates": updates,
        "more_updates": max(0, preview.counts["updated"] - len(updates)), **extra,
    }


def _store_for(user: Staff, store_id: int | None) -> Store | None:
    """The import's store, re-checked against what the user may do now."""
    if not user.is_hq:
        return user.store
    return Store.objects.filter(pk=store_id).first() if store_id else None


@role_required(*STORE_LEADS)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            kind = form.cleaned_data["kind"]
            store = _store_for(request.user, form.cleaned_data["store"].pk if form.cleaned_data["store"] else None)
            data = upload.read()
            filename = Path(upload.name or "").name[:200]
            preview = import_preview(kind=kind, data=data, filename=filename, store=store, viewer=request.user)
            token = None
            if preview.is_valid and preview.has_changes:
                token = _stash(request, data=data, kind=kind, store=store, filename=filename)
            else:
                _discard(request)
            return render(request, "members/import_preview.html", _preview_context(preview, token=token))
    else:
        form = ImportUploadForm(user=request.user)
    done = request.session.pop(DONE_KEY, None)
    return render(request, "members/import_upload.html", {"form": form, "done": done})


@role_required(*STORE_LEADS)
@require_POST
def import_commit_view(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("token", "")
    pending = _pending(request, token)
    path = _stash_path(token) if pending else None
    if pending is None or path is None or not path.exists():
        _discard(request)
        return render(request, "members/import_upload.html", {
            "form": ImportUploadForm(user=request.user),
            "expired": True,
        }, status=400)
    data = path.read_bytes()
    store = _store_for(request.user, pending["store_id"])
    try:
        result = import_commit(kind=pending["kind"], data=data, filename=pending["filename"], store=store,
                               by=request.user)
    except IntegrityError:
        # Someone wrote the same card, phone or receipt between our check and our insert.
        _discard(request)
        preview = ImportPreview(kind=pending["kind"], filename=pending["filename"], store=store)
        preview.file_errors.append(_("导入时数据发生了变化（有人同时登记了相同的卡号、手机号或小票），未写入任何数据。请重新上传预览。"))
        return render(request, "members/import_preview.html", _preview_context(preview, token=None, revalidated=True))
    _discard(request)
    if not result.committed:
        return render(request, "members/import_preview.html", _preview_context(result, token=None, revalidated=True))
    request.session[DONE_KEY] = {
        "summary": result.summary(), "filename": result.filename, "kind": result.kind_label,
        "tier_changes": result.tier_changes, "members_replayed": result.members_replayed,
    }
    return redirect("members:import")
