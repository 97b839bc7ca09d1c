"""report_kpis on the demo data: the object issue 6 names, with figures that hang together."""

import json
from io import StringIO

from django.core.management import call_command
from django.utils import timezone


def test_report_kpis_for_a_seeded_store(db):
    call_command("seed_demo", "--per-store", "80", stdout=StringIO())
    today = timezone.localdate()
    month = f"{today.year}-{today.month:02d}"
    out = StringIO()
    call_command("report_kpis", "--month", month, "--until", today.isoformat(), "--store", "SH01", "--json", stdout=out)
    data = json.loads(out.getvalue())
    for key in (
        "period",
        "store",
        "churn_rate",
        "repurchase_rate",
        "upgrade_rate",
        "win_backs",
        "downgrades",
        "new_members",
        "tier_mix",
        "old_vip_sales",
        "new_vip_sales",
        "follow_up_completion",
        "follow_up_on_time",
        "satisfaction",
        "complaints",
    ):
        assert key in data, key
    assert data["store"] == "SH01" and data["period"]["end"] == today.isoformat()
    for rate in ("churn_rate", "repurchase_rate", "upgrade_rate"):
        r = data[rate]
        assert 0 <= r["numerator"] <= r["denominator"]
        assert r["rate"] is None or r["rate"] == round(r["numerator"] / r["denominator"], 4)
    mix = data["tier_mix"]
    assert sum(t["count"] for t in mix.values()) >= 80 - data["new_members"]  # everyone joined by the end
    assert abs(sum(t["share"] for t in mix.values()) - 1) < 0.001
    assert data["repurchase_rate"]["denominator"] > 0  # the demo has active members
