"""seed_demo: a plausible demo shop, written fast, and a second run changes nothing."""
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import F

from accounts.models import ConfidentialityAgreement, Role, Staff, Store
from members.models import ImportantDate, Member, Purchase, Tier, TierChange, TierChangeReason, TierReview

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (Store, Staff, ConfidentialityAgreement, Member, ImportantDate, Purchase, TierChange, TierReview)
    return {model.__name__: model.objects.count() for model in models}


def test_it_seeds_two_stores_with_their_staff():
    seed()

    assert set(Store.objects.values_list("code", flat=True)) == {"SH01", "BJ01"}
    for code in ("sh01", "bj01"):
        roles = sorted(Staff.objects.filter(username__startswith=f"{code}_").values_list("role", flat=True))
        assert roles == sorted([Role.MANAGER, Role.VIP_SPECIALIST] + [Role.CONSULTANT] * 4)
    assert Staff.objects.get(username="hq").role == Role.HQ
    # Everyone signed the confidentiality agreement and logs in with the shared demo password.
    assert ConfidentialityAgreement.objects.count() == Staff.objects.count() == 13
    assert authenticate(username="sh01_c1", password="vipcrm-demo") is not None


def test_it_seeds_a_realistic_ledger():
    output = seed()

    members = Member.objects.all()
    total = members.count()
    assert total == 600
    assert members.filter(home_store__code="SH01").count() == 300
    assert members.filter(purchases__isnull=False).distinct().count() > 550
    # Returns are negative and point at the purchase they return, from the same member.
    returns = Purchase.objects.filter(amount__lt=0)
    assert returns.count() > 50
    assert not returns.filter(original__isnull=True).exists()
    assert not returns.exclude(original__member=F("member")).exists()
    assert not Purchase.objects.filter(date__lt=F("member__joined_on")).exists()
    # Solar and lunar birthdays, two born on 29 February; anniversaries and family dates.
    with_birthday = members.exclude(birthday=None).count()
    assert 0.15 < members.filter(birthday_lunar=True).count() / with_birthday < 0.40
    assert members.filter(birthday__month=2, birthday__day=29).count() >= 2
    assert ImportantDate.objects.filter(kind="wedding_anniversary").exists()
    assert ImportantDate.objects.filter(lunar=True).exists()
    assert 0.7 < members.filter(marketing_consent=True).count() / total < 0.95
    # A plausible tier mix, reached through the engine: upgrades, month-end downgrades, a lock.
    share = {tier: members.filter(tier=tier).count() / total for tier in Tier.values}
    assert 0.04 <= share[Tier.A] <= 0.12
    assert 0.22 <= share[Tier.B] <= 0.38
    assert TierChange.objects.filter(reason=TierChangeReason.PURCHASE).exists()
    assert TierChange.objects.filter(reason=TierChangeReason.REVIEW).exists()
    assert members.filter(tier_locked=True).count() == 2
    assert "SH01" in output and "vipcrm-demo" in output


def test_it_changes_nothing_when_run_twice():
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "nothing to add" in output
