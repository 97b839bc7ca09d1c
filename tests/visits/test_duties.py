"""Duties (DOMAIN §10): once per store and date, recorded, catching up missed days."""

from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command

from duties.models import DutyRun
from duties.runs import days_to_run, duty_catch_up, duty_run
from tests.factories import MemberFactory
from visits.models import FollowUpTask
from visits.services import daily_work, digest_send

D = date.fromisoformat


def run(*args) -> str:
    out = StringIO()
    call_command("run_duties", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def lapsing(store_a, staff_a):
    # Joined 2025-01-01, never contacted: care due (C: 90 days) on any day in 2026.
    return MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2025-01-01"))


@time_machine.travel("2026-03-10 06:30 +0800", tick=False)
def test_it_runs_once_per_store_and_date(store_a, lapsing):
    out = run("daily", "--date", "2026-03-10", "--store", "SHA")
    assert "done" in out and "'care': 1" in out
    again = run("daily", "--date", "2026-03-10", "--store", "SHA")
    assert "already run" in again
    assert DutyRun.objects.filter(duty="daily", store=store_a).count() == 1
    assert FollowUpTask.objects.count() == 1


@time_machine.travel("2026-03-10 06:30 +0800", tick=False)
def test_it_catches_up_missed_days_first(store_a, lapsing):
    DutyRun.objects.create(
        duty="daily", store=store_a, date=D("2026-03-06"), status="done", started_at="2026-03-06T06:30+08:00"
    )
    assert days_to_run(duty="daily", store=store_a, through=D("2026-03-10")) == [
        D("2026-03-07"),
        D("2026-03-08"),
        D("2026-03-09"),
        D("2026-03-10"),
    ]
    runs = duty_catch_up(duty="daily", store=store_a, through=D("2026-03-10"), work=daily_work)
    assert [r.date for r in runs] == [D("2026-03-07"), D("2026-03-08"), D("2026-03-09"), D("2026-03-10")]
    # The care task came on the first missed day; the later days found it open.
    assert list(FollowUpTask.objects.values_list("due_date", flat=True)) == [D("2026-03-07")]


@time_machine.travel("2026-03-10 06:30 +0800", tick=False)
def test_a_first_run_does_not_backfill_history(store_a):
    assert days_to_run(duty="daily", store=store_a, through=D("2026-03-10")) == [D("2026-03-10")]


@time_machine.travel("2026-03-10 06:30 +0800", tick=False)
def test_it_records_a_failure_and_retries_it(store_a):
    calls = []

    def flaky(store, on):
        calls.append(on)
        if len(calls) == 1:
            raise RuntimeError("SMTP down")
        return {"ok": 1}

    with pytest.raises(RuntimeError):
        duty_run(duty="probe", store=store_a, on=D("2026-03-10"), work=flaky)
    failed = DutyRun.objects.get(duty="probe")
    assert failed.status == "failed" and "SMTP down" in failed.error and failed.attempts == 1
    duty_run(duty="probe", store=store_a, on=D("2026-03-10"), work=flaky)
    done = DutyRun.objects.get(duty="probe")
    assert (done.status, done.counts, done.error, done.attempts) == ("done", {"ok": 1}, "", 2)


def test_a_failed_run_writes_none_of_its_work(store_a, lapsing):
    def half_then_fail(store, on):
        daily_work(store, on)
        raise RuntimeError("boom")

    with time_machine.travel("2026-03-10 06:30 +0800", tick=False), pytest.raises(RuntimeError):
        duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=half_then_fail)
    assert FollowUpTask.objects.count() == 0


def test_it_sends_the_digest_for_today_only(store_a, lapsing, django_capture_on_commit_callbacks):
    # (The digest leaves the outbox once the duty commits.)
    with time_machine.travel("2026-03-10 06:30 +0800", tick=False), django_capture_on_commit_callbacks(execute=True):
        run("daily", "--date", "2026-03-09", "--store", "SHA", "--no-catch-up")
        assert mail.outbox == []
        run("daily", "--date", "2026-03-10", "--store", "SHA")
    assert [m.to for m in mail.outbox] == [["a_consultant@example.com"]]
    assert "1" in mail.outbox[0].subject


def test_the_digest_counts_today_s_list_by_the_working_date_and_lateness_by_the_due_date(
    store_a, staff_a, django_capture_on_commit_callbacks
):
    # Three cards for the consultant on 10 March: one due 8 March and still on the list (overdue),
    # one due 9 March but snoozed to 12 March (off today's list, upcoming; its lateness stays), one
    # due today. The digest says 1 due today and 1 overdue, and 1 coming in the next 7 days.
    def card(due, scheduled):
        member = MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2025-01-01"))
        FollowUpTask.objects.create(
            store=store_a,
            member=member,
            assignee=staff_a.consultant,
            kind="manual",
            origin=f"test:{member.pk}",
            due_date=D(due),
            scheduled_for=D(scheduled),
        )

    card("2026-03-08", "2026-03-08")
    card("2026-03-09", "2026-03-12")
    card("2026-03-10", "2026-03-10")
    with time_machine.travel("2026-03-10 06:30 +0800", tick=False), django_capture_on_commit_callbacks(execute=True):
        assert digest_send(store=store_a, on=D("2026-03-10")) == 1
    subject = mail.outbox[0].subject
    assert "1 项到期" in subject and "1 项逾期" in subject


def test_it_refuses_a_future_date_and_an_unknown_store(store_a):
    with time_machine.travel("2026-03-10 06:30 +0800", tick=False):
        with pytest.raises(CommandError, match="future"):
            run("daily", "--date", "2026-03-11")
        with pytest.raises(CommandError, match="No store"):
            run("daily", "--store", "NOPE")
