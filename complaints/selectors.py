"""Reads of complaints, always through what the viewer may see (DOMAIN §11): HQ all; the store's
VIP specialist and manager their store's; a consultant those they registered or work on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Staff
from members.models import ProgramRules

from .models import OPEN_STATES, Category, Complaint, Status


def complaint_scope(*, viewer: Staff) -> QuerySet[Complaint]:
    qs = Complaint.objects.all()
    if viewer.is_hq:
        return qs
    qs = qs.filter(store_id=viewer.store_id)
    if viewer.is_consultant:
        qs = qs.filter(Q(received_by=viewer) | Q(responsible_staff=viewer))
    return qs


def complaint_get(*, viewer: Staff, pk: int) -> Complaint:
    try:
        return (
            complaint_scope(viewer=viewer)
            .select_related("store", "member", "received_by", "responsible_staff", "approved_by")
            .get(pk=pk)
        )
    except Complaint.DoesNotExist:
        raise Http404 from None


def complaint_timeline(*, complaint: Complaint):
    return complaint.events.select_related("by").order_by("at", "pk")


@dataclass
class SlaClock:
    """What the board shows for an open complaint: the next deadline and the hours left (negative
    when overdue)."""

    label: str
    due: datetime
    hours_left: float

    @property
    def overdue(self) -> bool:
        return self.hours_left < 0


def sla_clock(complaint: Complaint, *, now: datetime, rules: ProgramRules) -> SlaClock | None:
    from django.utils.translation import gettext as _

    if complaint.status == Status.REGISTERED:
        due = complaint.received_at + timedelta(hours=rules.complaint_response_hours)
        return SlaClock(_("首次响应"), due, (due - now).total_seconds() / 3600)
    if complaint.status in (Status.ACCEPTED, Status.INVESTIGATING, Status.SOLUTION_PROPOSED, Status.APPROVED):
        due = complaint.received_at + timedelta(hours=rules.complaint_solution_hours)
        return SlaClock(_("解决"), due, (due - now).total_seconds() / 3600)
    return None


def complaint_board(*, viewer: Staff, store_id: int | None = None) -> list[tuple[Complaint, SlaClock | None]]:
    """Open complaints with their SLA clocks, the most urgent first."""
    qs = complaint_scope(viewer=viewer).filter(status__in=OPEN_STATES)
    if store_id:
        qs = qs.filter(store_id=store_id)
    rows = list(qs.select_related("store", "member", "responsible_staff"))
    now, rules = timezone.now(), ProgramRules.load()
    board = [(c, sla_clock(c, now=now, rules=rules)) for c in rows]
    far = float("inf")
    board.sort(key=lambda row: row[1].hours_left if row[1] else far)
    return board


# --- Statistics (DOMAIN §6: received, closed, mean hours to first response and to close, share
# within SLA, by category) ------------------------------------------------------------------------


@dataclass
class ComplaintFigures:
    key: str
    label: str
    received: int = 0
    closed: int = 0
    response_hours: list[float] = field(default_factory=list)
    close_hours: list[float] = field(default_factory=list)
    responded_in_sla: int = 0
    solved_in_sla: int = 0
    # Those the solution SLA applies to: received, less the rejected (DOMAIN §8: a complaint not
    # accepted has no solution to carry out; it is neither a success nor a failure of that SLA).
    solution_due: int = 0
    rejected: int = 0

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    @property
    def mean_response_hours(self) -> float | None:
        return self._mean(self.response_hours)

    @property
    def mean_close_hours(self) -> float | None:
        return self._mean(self.close_hours)

    @property
    def response_sla_share(self) -> float | None:
        return round(self.responded_in_sla / self.received, 4) if self.received else None

    @property
    def solution_sla_share(self) -> float | None:
        return round(self.solved_in_sla / self.solution_due, 4) if self.solution_due else None


def is_rejected(*, status: str, rejection_reason: str, carried_out_at) -> bool:
    """DOMAIN §8: rejected (不予受理) at registration, with a reason and what the customer was told;
    still so once closed (rejected → closed). A rejected complaint reopened and then worked on to a
    solution carried out is no longer rejected."""
    if status == Status.REJECTED:
        return True
    return status == Status.CLOSED and bool(rejection_reason) and carried_out_at is None


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        timezone.make_aware(datetime.combine(start, time.min)),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min)),
    )


def complaint_stats(
    *, viewer: Staff, start: date, end: date, by: str = "category", store_id: int | None = None
) -> tuple[ComplaintFigures, list[ComplaintFigures]]:
    """Figures for the complaints the viewer may see, received in [start, end]; see `_figures`."""
    qs = complaint_scope(viewer=viewer)
    if store_id:
        qs = qs.filter(store_id=store_id)
    return _figures(qs, start=start, end=end, by=by)


def complaint_figures(
    *,
    store_ids: list[int] | None,
    start: date,
    end: date,
    by: str = "category",
    rules: ProgramRules | None = None,
) -> tuple[ComplaintFigures, list[ComplaintFigures]]:
    """The same figures for whole stores (all if None): the reports and duties use these (`rules`:
    the program rules if the caller has read them, else read here)."""
    qs = Complaint.objects.all() if store_ids is None else Complaint.objects.filter(store_id__in=store_ids)
    return _figures(qs, start=start, end=end, by=by, rules=rules)


def _figures(
    qs: QuerySet[Complaint], *, start: date, end: date, by: str, rules: ProgramRules | None = None
) -> tuple[ComplaintFigures, list[ComplaintFigures]]:
    """Figures for complaints received in [start, end], in total and grouped `by` category,
    responsible staff or store (key: the store's id, for the chain view's one query). Closed
    counts those received in the period and closed by now; hours run from receipt. Within SLA:
    first response within the response hours, out of those received (a rejection is a
    response); solution carried out within the solution hours, out of those received less the
    rejected (`is_rejected`: no solution is owed). One query (and the program rules, unless given)."""
    rules = rules or ProgramRules.load()
    lo, hi = _bounds(start, end)
    qs = qs.filter(received_at__gte=lo, received_at__lt=hi)
    rows = qs.values_list(
        "category",
        "responsible_staff_id",
        "responsible_staff__display_name",
        "responsible_staff__username",
        "received_at",
        "first_response_at",
        "carried_out_at",
        "closed_at",
        "status",
        "rejection_reason",
        "store_id",
    )
    labels = dict(Category.choices)
    total = ComplaintFigures("total", "")
    groups: dict[str, ComplaintFigures] = {}
    response_limit = timedelta(hours=rules.complaint_response_hours)
    solution_limit = timedelta(hours=rules.complaint_solution_hours)
    for category, staff_id, staff_name, username, received, responded, carried, closed, status, reason, store in rows:
        rejected = is_rejected(status=status, rejection_reason=reason, carried_out_at=carried)
        if by == "staff":
            key, label = str(staff_id or ""), (staff_name or username or "—")
        elif by == "store":
            key, label = str(store), ""
        else:
            key, label = category, str(labels.get(category, category))
        group = groups.setdefault(key, ComplaintFigures(key, label))
        for figures in (total, group):
            figures.received += 1
            if responded:
                figures.response_hours.append((responded - received).total_seconds() / 3600)
                figures.responded_in_sla += responded - received <= response_limit
            if rejected:
                figures.rejected += 1
            else:
                figures.solution_due += 1
            if carried:
                figures.solved_in_sla += carried - received <= solution_limit
            if closed and status == Status.CLOSED:
                figures.closed += 1
                figures.close_hours.append((closed - received).total_seconds() / 3600)
    ordered = sorted(groups.values(), key=lambda f: (-f.received, f.label))
    return total, ordered
