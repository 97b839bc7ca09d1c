"""Exports: a report as an XLSX workbook (issue 12 item 5): the key figures, achievement against the month's
targets (store and people) and the commentary with its thread. openpyxl in write-only mode (rows
streamed, nothing held as cells); every text cell guarded against formulas (DOMAIN §12); the
export audited (DOMAIN §11). And the chain view's table as CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from accounts.models import Staff
from accounts.services import audit_log
from members.exports import safe_cell
from members.models import Tier

from .commentary import achievement_for, key_figures, report_of, report_title, thread_for
from .metrics import METRIC_LABELS, METRICS
from .models import ReportSnapshot


def _cell(value):
    """Numbers stay numbers (Decimal as float: openpyxl writes no Decimal); text is guarded."""
    if value is None:
        return None
    if isinstance(value, bool):
        return safe_cell(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    return safe_cell(value)


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def snapshot_xlsx(*, snapshot: ReportSnapshot, viewer: Staff) -> bytes:
    """The workbook's bytes; the export written to the audit log."""
    report = report_of(snapshot)
    achievement = achievement_for(snapshot)
    thread = thread_for(viewer=viewer, snapshot=snapshot)
    book = Workbook(write_only=True)

    figures = book.create_sheet(_("数据"))
    figures.append([_cell(report_title(snapshot))])
    figures.append([_cell(_("期间")), _cell(f"{snapshot.period_start} – {snapshot.period_end}")])
    figures.append([_cell(_("生成时间")), _cell(_when(snapshot.taken_at))])
    figures.append([])
    figures.append([_cell(_("指标")), _cell(_("数值")), _cell(_("显示")), _cell(_("分子 / 分母"))])
    for line in key_figures(report):
        figures.append([_cell(line.label), _cell(line.number), _cell(line.value), _cell(line.detail)])

    if achievement is not None:
        sheet = book.create_sheet(_("目标达成"))
        sheet.append([_cell(_("门店")), _cell(snapshot.store.name), _cell(_("截至")), _cell(str(achievement.until))])
        sheet.append([_cell(_("指标")), _cell(_("实际")), _cell(_("目标")), _cell(_("达成率 %"))])
        for a in achievement.store:
            sheet.append([_cell(a.label), _cell(a.actual.value), _cell(a.target), _cell(a.percent)])
        sheet.append([])
        header = [_cell(_("员工"))]
        for label in achievement.labels:
            header += [_cell(f"{label} {_('实际')}"), _cell(f"{label} {_('目标')}"), _cell(f"{label} %")]
        sheet.append(header)
        for staff, cells in achievement.table:
            row = [_cell(str(staff))]
            for a in cells:
                row += [_cell(a.actual.value), _cell(a.target), _cell(a.percent)]
            sheet.append(row)

    notes = book.create_sheet(_("点评"))
    c = thread.commentary
    notes.append([_cell(_("存在问题")), _cell(c.problems if c else "")])
    notes.append([_cell(_("改进措施")), _cell(c.improvements if c else "")])
    notes.append([_cell(_("下一步行动")), _cell(c.next_actions if c else "")])
    notes.append([_cell(_("提交")), _cell(str(c.submitted_by or "") if c else ""), _cell(_when(c and c.submitted_at))])
    notes.append(
        [_cell(_("确认")), _cell(str(c.acknowledged_by or "") if c else ""), _cell(_when(c and c.acknowledged_at))]
    )
    notes.append([])
    notes.append([_cell(_("时间")), _cell(_("作者")), _cell(_("留言"))])
    for comment in thread.comments:
        notes.append([_cell(_when(comment.created_at)), _cell(comment.author_name), _cell(comment.text)])

    out = io.BytesIO()
    book.save(out)
    audit_log(actor=viewer, action="reports.snapshot.exported", obj=snapshot, store=snapshot.store, format="xlsx")
    return out.getvalue()


# --- The chain view as CSV -----------------------------------------------------------------------


def _chain_header(by: str) -> list[str]:
    header = [
        _("排名"),
        _("区域") if by == "region" else _("门店"),
        _("期初活跃会员"),
        _("流失"),
        _("流失率"),
        _("返单"),
        _("返单率"),
        _("期初 B/C 级会员"),
        _("升级"),
        _("升级率"),
        _("回流"),
        _("降级"),
        *[_("%(tier)s级会员") % {"tier": t} for t in Tier.values],
    ]
    for metric in METRICS:
        header += [str(METRIC_LABELS[metric]), _("%(label)s目标") % {"label": METRIC_LABELS[metric]}, _("达成率")]
    service = [_("按时率"), _("满意度均分"), _("满意占比"), _("投诉"), _("已结案"), _("响应及时率"), _("解决及时率")]
    return header + service


def _pct(rate) -> str:
    return "" if rate.percent is None else f"{rate.percent}%"


def _chain_row(line) -> list:
    row = [
        line.rank or "",
        line.label,
        line.base,
        line.churned,
        _pct(line.churn.rate),
        line.repurchased,
        _pct(line.repurchase.rate),
        line.upgrade_base,
        line.upgraded,
        _pct(line.upgrade.rate),
        line.win_backs,
        line.downgraded,
        *[line.tiers[t] for t in Tier.values],
    ]
    for a in line.achievements:
        row += [a.actual_display, a.target_display, "" if a.percent is None else f"{a.percent}%"]
    return row + [
        _pct(line.on_time_cell.rate),
        "" if line.satisfaction_mean is None else line.satisfaction_mean,
        _pct(line.satisfied_cell.rate),
        line.received,
        line.closed,
        _pct(line.response_sla.rate),
        _pct(line.solution_sla.rate),
    ]


def chain_csv(*, figures, lines: list, by: str) -> str:
    """The chain view's table (`reports.chain.Chain` and its sorted lines, then the total) as UTF-8
    CSV text with a BOM (for spreadsheets), formulas neutralised (DOMAIN §12)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in _chain_header(by)])
    for line in [*lines, figures.total]:
        writer.writerow([safe_cell(v) for v in _chain_row(line)])
    return out.getvalue()
