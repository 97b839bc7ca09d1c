"""A low satisfaction score (1–2) alerts the home store's VIP specialist and manager and puts a
revisit on the specialist's list, once per visit (issue 12 item 6); the customer's opinions and
suggestions are recorded with the visit and scrubbed on erasure."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Notification, Role
from duties.models import OutboxEmail
from members.services import member_erase
from tests.factories import MemberFactory
from visits.feedback import LOW_SATISFACTION_ORIGIN, low_satisfaction_follow_up, short_name
from visits.models import FollowUpTask, TaskKind, TaskReason, TaskStatus, Visit
from visits.services import task_complete, task_create, visit_record

pytestmark = pytest.mark.django_db


def _record(member, by, **kwargs):
    kwargs.setdefault("channel", "phone")
    kwargs.setdefault("outcome", "抱怨改衣太慢")
    return visit_record(member=member, by=by, **kwargs)


def _revisits(visit):
    return TaskReason.objects.filter(kind=TaskKind.MANUAL, origin=f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}")


def test_it_notifies_the_specialist_and_the_manager_and_gives_the_specialist_a_revisit(member_a, staff_a):
    visit = _record(member_a, staff_a.consultant, satisfaction=2, suggestions="希望改衣三天内完成")

    notified = Notification.objects.filter(url=reverse("members:detail", args=[member_a.pk]))
    assert sorted(n.recipient_id for n in notified) == sorted([staff_a.specialist.pk, staff_a.manager.pk])
    assert "2/5" in notified[0].text and member_a.name in notified[0].text
    (reason,) = _revisits(visit)
    task = reason.task
    assert task.assignee_id == staff_a.specialist.pk
    assert task.status == TaskStatus.OPEN
    # Due the day after the contact, so today's list is not where it lands.
    assert task.due_date == timezone.localdate() + timedelta(days=1)
    assert "满意度 2/5" in reason.note
    keys = set(
        OutboxEmail.objects.filter(key__startswith=f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}:").values_list(
            "key", flat=True
        )
    )
    assert keys == {
        f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}:{staff_a.specialist.pk}",
        f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}:{staff_a.manager.pk}",
    }
    email = OutboxEmail.objects.get(key=f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}:{staff_a.manager.pk}")
    assert "希望改衣三天内完成" in email.body
    assert AuditEntry.objects.filter(action="visit.low_satisfaction").count() == 1


def test_it_is_once_per_visit(member_a, staff_a):
    visit = _record(member_a, staff_a.consultant, satisfaction=1)
    first = low_satisfaction_follow_up(visit=visit)

    again = low_satisfaction_follow_up(visit=visit)

    assert again.pk == first.pk
    assert _revisits(visit).count() == 1
    assert Notification.objects.count() == 2
    assert OutboxEmail.objects.filter(kind=LOW_SATISFACTION_ORIGIN).count() == 2


def test_two_low_visits_give_two_reasons_on_one_card(member_a, staff_a):
    first = _record(member_a, staff_a.consultant, satisfaction=1)
    second = _record(member_a, staff_a.consultant, satisfaction=2)

    assert _revisits(first).get().task_id == _revisits(second).get().task_id
    assert FollowUpTask.objects.filter(member=member_a, assignee=staff_a.specialist, status="open").count() == 1
    assert Notification.objects.count() == 4


@pytest.mark.parametrize("score", [None, 3, 4, 5])
def test_a_score_above_two_or_none_alerts_nobody(member_a, staff_a, score):
    _record(member_a, staff_a.consultant, satisfaction=score)

    assert not Notification.objects.exists()
    assert not TaskReason.objects.filter(origin__startswith=LOW_SATISFACTION_ORIGIN).exists()
    assert not OutboxEmail.objects.exists()


def test_a_low_score_on_a_card_closes_the_card_and_opens_the_revisit(member_a, staff_a):
    today = timezone.localdate()
    card, _ = task_create(
        member=member_a, kind=TaskKind.CARE, due_date=today, origin="care:t", assignee=staff_a.consultant
    )

    visit = task_complete(task=card, by=staff_a.consultant, channel="phone", outcome="不满意", satisfaction=1)

    card.refresh_from_db()
    assert card.status == TaskStatus.DONE
    revisit = _revisits(visit).get().task
    assert revisit.status == TaskStatus.OPEN
    assert revisit.assignee_id == staff_a.specialist.pk


def test_the_revisit_joins_the_specialists_open_card(member_a, staff_a):
    later = timezone.localdate() + timedelta(days=5)
    card, _ = task_create(
        member=member_a, kind=TaskKind.MANUAL, due_date=later, origin="manual:x", assignee=staff_a.specialist
    )

    visit = _record(member_a, staff_a.consultant, satisfaction=2)

    assert _revisits(visit).get().task_id == card.pk
    card.refresh_from_db()
    assert card.due_date == timezone.localdate() + timedelta(days=1)  # the earliest reason's


def test_without_a_specialist_the_manager_takes_the_revisit(member_a, staff_a):
    staff_a.specialist.is_active = False
    staff_a.specialist.save(update_fields=["is_active"])

    visit = _record(member_a, staff_a.consultant, satisfaction=1)

    assert _revisits(visit).get().task.assignee_id == staff_a.manager.pk
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [staff_a.manager.pk]


def test_a_low_score_at_another_stores_counter_alerts_the_home_store(member_a, staff_a, staff_b, store_b):
    visit = _record(member_a, staff_b.consultant, satisfaction=1, store=store_b)

    recipients = set(Notification.objects.values_list("recipient_id", flat=True))
    assert recipients == {staff_a.specialist.pk, staff_a.manager.pk}
    assert _revisits(visit).get().task.store_id == member_a.home_store_id


def test_a_backdated_low_score_is_due_today(member_a, staff_a):
    visit = _record(member_a, staff_a.consultant, satisfaction=2, at=timezone.now() - timedelta(days=10))

    assert _revisits(visit).get().due_date == timezone.localdate()


def test_the_visit_form_records_suggestions(client, member_a, staff_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:visit_add", args=[member_a.pk]),
        {
            "channel": "phone",
            "result": "reached",
            "outcome": "已回访",
            "satisfaction": "2",
            "suggestions": "试衣间太小",
        },
    )

    assert response.status_code == 302
    visit = Visit.objects.get(member=member_a)
    assert visit.suggestions == "试衣间太小"
    assert _revisits(visit).exists()


def test_the_card_form_records_suggestions(client, member_a, staff_a):
    card, _ = task_create(
        member=member_a, kind=TaskKind.CARE, due_date=timezone.localdate(), origin="care:f", assignee=staff_a.consultant
    )
    client.force_login(staff_a.consultant)

    client.post(
        reverse("visits:task_complete", args=[card.pk]),
        {"channel": "phone", "outcome_text": "聊了新品", "satisfaction": "5", "suggestions": "多上大码"},
    )

    assert Visit.objects.get(member=member_a).suggestions == "多上大码"


def test_too_long_suggestions_are_refused(member_a, staff_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        _record(member_a, staff_a.consultant, suggestions="太" * 1001)

    assert "suggestions" in error.value.message_dict
    assert not Visit.objects.exists()


def test_erasure_scrubs_the_suggestions_the_notifications_and_the_emails(member_a, staff_a):
    visit = _record(
        member_a, staff_a.consultant, satisfaction=1, suggestions=f"{member_a.name}说希望回电 {member_a.phone}"
    )

    member_erase(member=member_a, by=staff_a.manager)

    visit.refresh_from_db()
    assert member_a.name not in visit.suggestions and member_a.phone not in visit.suggestions
    for note in Notification.objects.all():
        assert member_a.name not in note.text
    for email in OutboxEmail.objects.filter(kind=LOW_SATISFACTION_ORIGIN):
        assert member_a.name not in email.subject + email.body


def test_an_erased_member_gets_no_revisit(member_a, staff_a):
    visit = _record(member_a, staff_a.consultant, satisfaction=3)
    member_erase(member=member_a, by=staff_a.manager)
    Visit.objects.filter(pk=visit.pk).update(satisfaction=1)
    visit.refresh_from_db()

    assert low_satisfaction_follow_up(visit=visit) is None


@pytest.mark.parametrize(
    ("name", "short"), [("张丽", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("", "—"), ("李", "李*")]
)
def test_short_name(name, short):
    assert short_name(name) == short


def test_a_store_without_leads_still_gets_the_revisit(store_a):
    from tests.factories import StaffFactory

    consultant = StaffFactory(role=Role.CONSULTANT, store=store_a)
    member = MemberFactory(home_store=store_a, consultant=consultant)

    visit = _record(member, consultant, satisfaction=1)

    assert _revisits(visit).get().task.assignee_id == consultant.pk
    assert not Notification.objects.exists()
