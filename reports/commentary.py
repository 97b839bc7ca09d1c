"""Reports sent up with commentary (issue 12 item 5; seed: 数据化分析总结出来上报上级).

The store's VIP specialist (or its manager) writes what the figures of a weekly, mid-month or
monthly report mean — problems, improvements, next actions — and submits it: the store's managers
and HQ get an email with the key figures and a link (through the outbox, after the commit) and an
in-app notice. The manager (or HQ) acknowledges; anyone of the store's leads and HQ may comment.

Rules kept here:
- Commentary belongs to a frozen report (a `ReportSnapshot`): a live report may still change.
- Submitted means sent: editing afterwards is refused (a further remark goes in the thread), so
  what was acknowledged is what was sent. Comments are never edited either.
- Every write is audited (`reports.commentary.*`, `reports.comment.added`).
- The mid-month and month-end duties mail their report to the store's manager and VIP specialist
  and to each HQ user (one mail per store: duties run per store, so a chain digest would have to
  wait for the last store), once per person however often the duty runs (`report_mail`).

Reads take the viewer's snapshot (`dashboards.snapshot_get`: another store's is a 404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Role, Staff
from accounts.services import audit_log
from duties.services import email_queue

from .models import ReportComment, ReportCommentary, ReportSnapshot, SnapshotKind
from .permissions import can_acknowledge, can_comment, can_write

TEXT_FIELDS = ("problems", "improvements", "next_actions")
MAX_TEXT = 4000
MAX_COMMENT = 2000
# The kinds whose report carries achievement against the month's targets.
WITH_ACHIEVEMENT = (SnapshotKind.MONTHLY, SnapshotKind.MID_MONTH)


# --- Rights --------------------------------------------------------------------------------------


# can_write, can_acknowledge, can_comment: reports/permissions.py.


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


# --- Reads ---------------------------------------------------------------------------------------


@dataclass
class Thread:
    """What the commentary panel shows a viewer: the commentary, the comments, what they may do."""

    snapshot: ReportSnapshot
    commentary: ReportCommentary | None
    comments: list[ReportComment]
    may_write: bool = False
    may_acknowledge: bool = False
    may_comment: bool = False

    @property
    def submitted(self) -> bool:
        return self.commentary is not None and self.commentary.submitted

    @property
    def acknowledged(self) -> bool:
        return self.commentary is not None and self.commentary.acknowledged

    @property
    def editable(self) -> bool:
        return self.may_write and not self.submitted


def thread_for(*, viewer: Staff, snapshot: ReportSnapshot) -> Thread:
    """The snapshot's commentary and comments (two queries), with the viewer's rights."""
    commentary = (
        ReportCommentary.objects.select_related("written_by", "submitted_by", "acknowledged_by")
        .filter(snapshot=snapshot)
        .first()
    )
    comments = list(ReportComment.objects.filter(snapshot=snapshot).order_by("created_at", "pk"))
    return Thread(
        snapshot=snapshot,
        commentary=commentary,
        comments=comments,
        may_write=can_write(viewer, snapshot),
        may_acknowledge=can_acknowledge(viewer, snapshot),
        may_comment=can_comment(viewer, snapshot),
    )


def submissions(*, viewer: Staff, waiting: bool = False):
    """The reports sent up that the viewer may read, newest first: their store's, HQ every
    store's; `waiting`: those not yet acknowledged. One query (with the comment count)."""
    qs = ReportCommentary.objects.filter(submitted_at__isnull=False)
    if not viewer.is_hq:
        qs = qs.filter(snapshot__store_id=viewer.store_id) if viewer.store_id else qs.none()
    if waiting:
        qs = qs.filter(acknowledged_at__isnull=True)
    return (
        qs.select_related("snapshot__store", "submitted_by", "acknowledged_by")
        .annotate(comment_count=Count("snapshot__comments"))
        .order_by("-submitted_at", "-pk")
    )


@dataclass
class Line:
    """One key figure as the email, the workbook and the printed page write it."""

    label: str
    value: str
    number: Decimal | int | float | None = None  # for the workbook's cell (None: the text)
    detail: str = ""


def _rate_text(rate) -> tuple[str, str]:
    if rate.percent is None:
        return "—", ""
    return f"{rate.percent:g}%", f"{rate.numerator} / {rate.denominator}"


def _money_text(value: Decimal) -> str:
    return f"¥{value:,.2f}"


def key_figures(report) -> list[Line]:
    """The report's headline figures (a `dashboards.Report`), labelled, in the page's order."""
    f = report.figures
    lines = [  # sales, then the member rows (new members among them), follow-ups, complaints, tiers
        Line(_("老VIP销售额"), _money_text(report.old_vip_sales), report.old_vip_sales),
        Line(_("新卡销售额"), _money_text(report.new_vip_sales), report.new_vip_sales),
        Line(_("VIP销售合计"), _money_text(report.vip_sales), report.vip_sales),
    ]
    share = report.vip_share
    if share is not None and share.value is not None:
        lines.append(
            Line(
                _("VIP销售占比"),
                f"{Decimal(share.value) * 100:.1f}%",
                float(share.value),
                f"{_money_text(Decimal(share.numerator))} / {_money_text(Decimal(share.denominator))}",
            )
        )
    else:
        lines.append(Line(_("VIP销售占比"), "—", None, share.note if share is not None else ""))
    for row in report.member_rows:
        if row.rate is not None:
            value, detail = _rate_text(row.rate)
            lines.append(Line(row.rate.label, value, row.rate.rate, detail))
        else:
            lines.append(Line(row.label, "—" if row.count is None else str(row.count), row.count))
    for rate in (report.rate_completion, report.rate_on_time, report.satisfaction["satisfied"]):
        value, detail = _rate_text(rate)
        lines.append(Line(rate.label, value, rate.rate, detail))
    mean = report.satisfaction["mean"]
    lines.append(Line(_("满意度（平均分）"), "—" if mean is None else str(mean), mean))
    c = f.get("complaints", {})
    lines.append(Line(_("投诉接收"), str(c.get("received", 0)), c.get("received", 0)))
    lines.append(Line(_("投诉结案"), str(c.get("closed", 0)), c.get("closed", 0)))
    for rate in report.complaint_rates:
        value, detail = _rate_text(rate)
        label = _("响应及时率") if rate.key == "response_within_sla" else _("解决及时率")
        lines.append(Line(label, value, rate.rate, detail))
    for row in report.tier_rows:
        lines.append(
            Line(_("期末 %(tier)s") % {"tier": row.label}, "—" if row.count is None else str(row.count), row.count)
        )
    return lines


@dataclass
class MonthAchievement:
    """Achievement against the month's targets: the store's, and each person's (reports/selectors.py
    computes both; nothing is recomputed here)."""

    until: object  # the last day counted
    store: list = field(default_factory=list)  # [Achievement]
    people: list = field(default_factory=list)  # [StaffAchievement]
    metrics: list = field(default_factory=list)  # the staff metrics, in column order
    labels: list = field(default_factory=list)

    @property
    def table(self) -> list[tuple[object, list]]:
        """Each person with their achievements in column order."""
        return [(row.staff, [row.get(m) for m in self.metrics]) for row in self.people]


def achievement_for(snapshot: ReportSnapshot) -> MonthAchievement | None:
    """For a monthly report the month against its targets; for a mid-month one the month so far
    against the whole month's targets. As frozen with the snapshot (reports.services
    `achievement_json`); computed now for a snapshot taken before achievement was frozen. None for
    a weekly report."""
    from .metrics import METRIC_LABELS, STAFF_METRICS
    from .selectors import staff_achievement, store_achievement, target_people, target_plans

    if snapshot.kind not in WITH_ACHIEVEMENT:
        return None
    labels = [METRIC_LABELS[m] for m in STAFF_METRICS]
    if "achievement" in snapshot.figures:
        frozen = _achievement_frozen(snapshot.figures["achievement"])
        return MonthAchievement(snapshot.period_end, *frozen, metrics=list(STAFF_METRICS), labels=labels)
    store, start, end = snapshot.store, snapshot.period_start, snapshot.period_end
    plans = target_plans(store=store, year=start.year)
    return MonthAchievement(
        until=end,
        store=store_achievement(store=store, plans=plans, months=[start.month], start=start, end=end),
        people=staff_achievement(
            store=store,
            people=target_people(store=store),
            year=start.year,
            month=start.month,
            start=start,
            end=end,
            add_up=True,
        ),
        metrics=list(STAFF_METRICS),
        labels=labels,
    )


def _number(value):
    return Decimal(value) if isinstance(value, str) else value


def _achievement_of(row: dict):
    from .metrics import Achievement, Actual

    actual = Actual(_number(row["value"]), _number(row["numerator"]), _number(row["denominator"]), row["note"])
    return Achievement(row["metric"], _number(row["target"]), actual)


def _achievement_frozen(frozen: dict) -> tuple[list, list]:
    """A snapshot's frozen achievement back as (store's, people's); the people by their names now
    (one query), the receipts naming nobody as `NO_CONSULTANT`."""
    from .metrics import NO_CONSULTANT, StaffAchievement

    ids = [row["staff_id"] for row in frozen["people"] if row["staff_id"] is not None]
    staff = Staff.objects.in_bulk(ids)
    people = [
        StaffAchievement(
            staff=NO_CONSULTANT if row["staff_id"] is None else staff.get(row["staff_id"]) or _Gone(),
            rows={a.metric: a for a in map(_achievement_of, row["rows"])},
        )
        for row in frozen["people"]
    ]
    return [_achievement_of(row) for row in frozen["store"]], people


class _Gone:
    """A person of a frozen table no longer on file."""

    pk = None
    listed = False

    def __str__(self) -> str:
        return "—"


def report_of(snapshot: ReportSnapshot):
    """The snapshot as the report page reads it (`dashboards.Report`)."""
    from .dashboards import report_for

    return report_for(
        store=snapshot.store,
        kind=snapshot.kind,
        start=snapshot.period_start,
        end=snapshot.period_end,
        today=timezone.localdate(),
    )


def report_title(snapshot: ReportSnapshot) -> str:
    """上海店 月报 2026-03 / 月中报 2026-03-01 – 03-15 / 周报 2026-03-02 – 03-08."""
    if snapshot.kind == SnapshotKind.MONTHLY:
        return _("%(store)s 月报 %(month)s") % {
            "store": snapshot.store.name,
            "month": snapshot.period_start.strftime("%Y-%m"),
        }
    name = _("月中报") if snapshot.kind == SnapshotKind.MID_MONTH else _("周报")
    return _("%(store)s %(name)s %(start)s – %(end)s") % {
        "store": snapshot.store.name,
        "name": name,
        "start": snapshot.period_start.isoformat(),
        "end": snapshot.period_end.strftime("%m-%d"),
    }


def report_link(snapshot: ReportSnapshot) -> str:
    """The report's address for an email: the site's address (VIPCRM_SITE_URL, else the first
    trusted origin) before the path; the path alone when neither is set."""
    base = getattr(settings, "VIPCRM_SITE_URL", "") or next(iter(settings.CSRF_TRUSTED_ORIGINS), "")
    return base.rstrip("/") + reverse("reports:snapshot", args=[snapshot.pk])


def email_body(*, snapshot: ReportSnapshot, heading: str, commentary: ReportCommentary | None = None) -> str:
    report = report_of(snapshot)
    return render_to_string(
        "reports/email/report.txt",
        {
            "heading": heading,
            "title": report_title(snapshot),
            "lines": key_figures(report),
            "achievement": achievement_for(snapshot),
            "commentary": commentary,
            "link": report_link(snapshot),
        },
    )


def _leads_of(snapshot: ReportSnapshot, roles) -> list[Staff]:
    return list(Staff.objects.filter(store_id=snapshot.store_id, role__in=roles, is_active=True).exclude(email=""))


def _hq_people() -> list[Staff]:
    return list(Staff.objects.filter(role=Role.HQ, is_active=True).exclude(email=""))


# --- Writes --------------------------------------------------------------------------------------


def _clean_texts(texts: dict) -> dict[str, str]:
    cleaned, errors = {}, {}
    for name in TEXT_FIELDS:
        value = (texts.get(name) or "").strip()
        if len(value) > MAX_TEXT:
            errors[name] = _("最多 %(n)s 字。") % {"n": MAX_TEXT}
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _refuse_if_submitted(commentary: ReportCommentary | None) -> None:
    if commentary is not None and commentary.submitted:
        raise ValidationError(
            _("点评已于 %(at)s 提交，不能再修改；如需补充，请在下方留言。")
            % {"at": timezone.localtime(commentary.submitted_at).strftime("%Y-%m-%d %H:%M")}
        )


def _locked(snapshot: ReportSnapshot, *, create: bool = False) -> ReportCommentary | None:
    """The snapshot's commentary, locked until the transaction ends: two people saving or
    submitting at once are taken one after the other (the second sees the first's submission)."""
    if create:
        ReportCommentary.objects.get_or_create(snapshot=snapshot)
    return ReportCommentary.objects.select_for_update().filter(snapshot=snapshot).first()


@transaction.atomic
def commentary_save(
    *, snapshot: ReportSnapshot, by: Staff, problems: str = "", improvements: str = "", next_actions: str = ""
) -> ReportCommentary:
    """Write (or rewrite) the commentary of a report not yet submitted."""
    _require(can_write(by, snapshot))
    texts = _clean_texts({"problems": problems, "improvements": improvements, "next_actions": next_actions})
    commentary = _locked(snapshot, create=True)
    _refuse_if_submitted(commentary)
    for name, value in texts.items():
        setattr(commentary, name, value)
    commentary.written_by = by
    commentary.save()
    audit_log(
        actor=by,
        action="reports.commentary.saved",
        obj=commentary,
        store=snapshot.store,
        snapshot=snapshot.pk,
        **{name: len(value) for name, value in texts.items()},
    )
    return commentary


@transaction.atomic
def commentary_submit(
    *, snapshot: ReportSnapshot, by: Staff, problems: str = "", improvements: str = "", next_actions: str = ""
) -> ReportCommentary:
    """Save the texts and submit the report to the store's managers and HQ: an email each (key
    figures, the commentary, a link; sent after the commit, once) and an in-app notice."""
    commentary = commentary_save(
        snapshot=snapshot, by=by, problems=problems, improvements=improvements, next_actions=next_actions
    )
    if not any(getattr(commentary, name) for name in TEXT_FIELDS):
        raise ValidationError(_("请至少填写存在问题、改进措施或下一步行动中的一项再提交。"))
    commentary.submitted_at = timezone.now()
    commentary.submitted_by = by
    commentary.save(update_fields=["submitted_at", "submitted_by"])
    recipients = [p for p in [*_leads_of(snapshot, [Role.MANAGER]), *_hq_people()] if p.pk != by.pk]
    title = report_title(snapshot)
    if recipients:
        subject = _("【上报】%(title)s") % {"title": title}
        body = email_body(
            snapshot=snapshot,
            heading=_("%(who)s 提交了报表点评，请查阅并确认。") % {"who": str(by)},
            commentary=commentary,
        )
        for person in recipients:
            email_queue(
                to=[person.email], subject=subject, body=body, key=f"report-submitted:{snapshot.pk}:{person.pk}"
            )
    managers_and_hq = Q(role=Role.HQ) | Q(role=Role.MANAGER, store_id=snapshot.store_id)
    notify = Staff.objects.filter(managers_and_hq, is_active=True).exclude(pk=by.pk)
    url = reverse("reports:snapshot", args=[snapshot.pk])
    text = _("%(who)s 上报了%(title)s，待确认。") % {"who": str(by), "title": title}
    Notification.objects.bulk_create([Notification(recipient=p, text=text[:300], url=url) for p in notify])
    audit_log(
        actor=by,
        action="reports.commentary.submitted",
        obj=commentary,
        store=snapshot.store,
        snapshot=snapshot.pk,
        emailed=len(recipients),
    )
    return commentary


@transaction.atomic
def commentary_acknowledge(*, snapshot: ReportSnapshot, by: Staff, comment: str = "") -> ReportCommentary:
    """The manager (or HQ) confirms having read the submitted report, with a comment if given.
    Acknowledged once: a second time is refused (the thread takes further remarks)."""
    _require(can_acknowledge(by, snapshot))
    commentary = _locked(snapshot)
    if commentary is None or not commentary.submitted:
        raise ValidationError(_("报表尚未提交，无需确认。"))
    if commentary.acknowledged:
        raise ValidationError(_("报表已由 %(who)s 确认。") % {"who": commentary.acknowledged_by or "—"})
    comment = (comment or "").strip()
    if comment:
        report_comment_add(snapshot=snapshot, by=by, text=comment)
    commentary.acknowledged_at = timezone.now()
    commentary.acknowledged_by = by
    commentary.save(update_fields=["acknowledged_at", "acknowledged_by"])
    submitter = commentary.submitted_by
    if submitter is not None and submitter.pk != by.pk and submitter.is_active:
        Notification.objects.create(
            recipient=submitter,
            text=(_("%(who)s 已确认%(title)s。") % {"who": str(by), "title": report_title(snapshot)})[:300],
            url=reverse("reports:snapshot", args=[snapshot.pk]),
        )
    audit_log(
        actor=by, action="reports.commentary.acknowledged", obj=commentary, store=snapshot.store, snapshot=snapshot.pk
    )
    return commentary


@transaction.atomic
def report_comment_add(*, snapshot: ReportSnapshot, by: Staff, text: str) -> ReportComment:
    """Add a remark to the report's thread (the store's leads and HQ)."""
    _require(can_comment(by, snapshot))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("请填写留言内容。")})
    if len(text) > MAX_COMMENT:
        raise ValidationError({"text": _("最多 %(n)s 字。") % {"n": MAX_COMMENT}})
    comment = ReportComment.objects.create(snapshot=snapshot, author=by, author_name=str(by), text=text)
    audit_log(actor=by, action="reports.comment.added", obj=comment, store=snapshot.store, snapshot=snapshot.pk)
    return comment


def report_mail(*, snapshot: ReportSnapshot) -> int:
    """Mail a mid-month or monthly report from its duty: to the store's manager and VIP specialist
    and to each HQ user, keyed by snapshot and person, so a duty run again sends nothing more.
    Queued in the duty's transaction: sent after it commits."""
    recipients = [*_leads_of(snapshot, [Role.MANAGER, Role.VIP_SPECIALIST]), *_hq_people()]
    if not recipients:
        return 0
    subject = report_title(snapshot)
    body = email_body(snapshot=snapshot, heading=_("本期报表已生成，VIP专员请填写点评后上报。"))
    for person in recipients:
        email_queue(to=[person.email], subject=subject, body=body, key=f"report:{snapshot.pk}:{person.pk}")
    return len(recipients)
