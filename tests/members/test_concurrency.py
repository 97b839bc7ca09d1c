"""Races that only a real database shows: run on PostgreSQL (CI), skipped on SQLite."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from members import services
from members.models import Purchase
from tests.factories import MemberFactory, StoreFactory


@pytest.mark.django_db(transaction=True)
def test_it_records_one_purchase_when_a_pos_pushes_a_receipt_twice_at_once(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    store = StoreFactory(code="RACE")
    member = MemberFactory(home_store=store, joined_on=date(2024, 1, 1))
    barrier = threading.Barrier(2, timeout=10)
    clean = services._clean_purchase

    def clean_then_wait(purchase):
        clean(purchase)
        barrier.wait()  # both requests have passed the "already on file?" check

    monkeypatch.setattr(services, "_clean_purchase", clean_then_wait)
    results, errors = [], []

    def push():
        try:
            results.append(
                services.purchase_record(
                    member=member,
                    store=store,
                    receipt_no="POS-9",
                    date=date(2024, 5, 1),
                    amount=Decimal("500"),
                    by=None,
                )
            )
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].purchase.pk == results[1].purchase.pk
    assert Purchase.objects.filter(receipt_no="POS-9").count() == 1
