"""A rejected complaint is out of the solution SLA (DOMAIN §8, issue 12 item 2): rejected (不予受理)
at registration, it owes no solution, so it is neither a success nor a failure of that SLA. Its
rejection is still a first response."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from complaints.models import Complaint, Status
from complaints.selectors import complaint_figures, is_rejected
from complaints.services import complaint_register, complaint_transition
from reports.kpis import compute_kpis

D = date.fromisoformat
S = Status


def at(moment: str):
    return time_machine.travel(f"{moment} +0800", tick=False)


def step(complaint, to, by, moment, **fields):
    with at(moment):
        return complaint_transition(complaint=complaint, to=to, by=by, **fields)


@pytest.fixture
def march(store_a, staff_a, member_a):
    """Store A, March 2026, solution SLA 48 h, response SLA 24 h:

    #1 received 03-02 10:00, rejected 03-02 10:30 (out of the return period), closed 10:30
       → responded in 0.5 h; no solution owed: out of the solution SLA.
    #2 received 03-03 10:00, accepted 11:00, solution carried out 03-04 09:00 (23 h) → within.
    #3 received 03-05 10:00, accepted 03-05 12:00, still investigating on 03-31 → not within.

    Response within SLA: 3 / 3. Solution within SLA: 1 / 2 = 0.5 (#2 of #2, #3). Counting the
    rejected one in the denominator would give 1 / 3; the seed's SH01 showed 0 / 2 for one rejected
    complaint closed in 0 h and one still open.
    """
    lead = staff_a.manager
    found = []
    for moment in ("2026-03-02 10:00", "2026-03-03 10:00", "2026-03-05 10:00"):
        with at(moment):
            found.append(
                complaint_register(
                    store=store_a,
                    by=staff_a.consultant,
                    member=member_a,
                    channel="in_store",
                    category="alteration",
                    description="裤长改短了",
                )
            )
    one, two, three = found
    step(one, S.REJECTED, lead, "2026-03-02 10:30", rejection_reason="超出退换期", customer_told="已当面说明")
    step(one, S.CLOSED, lead, "2026-03-02 10:30")
    step(two, S.ACCEPTED, lead, "2026-03-03 11:00")
    step(two, S.INVESTIGATING, lead, "2026-03-03 11:10", responsible_staff=staff_a.consultant)
    step(two, S.SOLUTION_PROPOSED, lead, "2026-03-03 15:00", solution="免费修改")
    step(two, S.CARRIED_OUT, lead, "2026-03-04 09:00")
    step(three, S.ACCEPTED, lead, "2026-03-05 12:00")
    step(three, S.INVESTIGATING, lead, "2026-03-05 12:10", responsible_staff=staff_a.consultant)
    return found


def test_a_rejected_complaint_is_neither_success_nor_failure_of_the_solution_sla(store_a, march):
    with at("2026-03-31 23:00"):
        total, _by_category = complaint_figures(store_ids=[store_a.pk], start=D("2026-03-01"), end=D("2026-03-31"))
        kpis = compute_kpis(start=D("2026-03-01"), end=D("2026-03-31"), store_ids=[store_a.pk]).as_json()

    assert (total.received, total.rejected, total.solution_due, total.solved_in_sla) == (3, 1, 2, 1)
    assert (total.response_sla_share, total.solution_sla_share) == (1.0, 0.5)
    assert kpis["complaints"]["solution_within_sla"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert kpis["complaints"]["response_within_sla"] == {"numerator": 3, "denominator": 3, "rate": 1.0}


def test_a_store_whose_only_complaint_was_rejected_has_no_solution_rate(store_a, march):
    # Only #1 in the period (03-02): solution SLA 0 / 0 → no rate (null), not 0%.
    total, _ = complaint_figures(store_ids=[store_a.pk], start=D("2026-03-02"), end=D("2026-03-02"))
    assert (total.received, total.solution_due, total.solution_sla_share) == (1, 0, None)


def test_a_rejected_complaint_reopened_owes_a_solution_again(store_a, staff_a, march):
    # #1 reopened on 03-06 (closed → investigating): it is being worked on now, so the solution
    # SLA applies again, from receipt (03-02 10:00; not carried out by 03-31 → not within): 1 / 3.
    one = Complaint.objects.get(pk=march[0].pk)
    step(
        one,
        S.INVESTIGATING,
        staff_a.manager,
        "2026-03-06 10:00",
        note="顾客再次来电",
        responsible_staff=staff_a.consultant,
    )
    one.refresh_from_db()
    assert not is_rejected(status=one.status, rejection_reason=one.rejection_reason, carried_out_at=one.carried_out_at)
    total, _ = complaint_figures(store_ids=[store_a.pk], start=D("2026-03-01"), end=D("2026-03-31"))
    assert (total.solution_due, total.solved_in_sla) == (3, 1)


def test_the_stats_page_shows_the_solution_sla_without_the_rejected(client, staff_a, march):
    client.force_login(staff_a.manager)
    page = client.get(reverse("complaints:stats"), {"start": "2026-03-01", "end": "2026-03-31"})
    html = page.content.decode()
    # The total row: response 3/3 = 100%; solution 1/2 = 50%, the rejected one left out.
    assert page.context["total"].solution_due == 2
    assert '50% <span class="text-body-secondary small">(1/2)</span>' in html
    assert "不予受理的 1 件不计入" in html
