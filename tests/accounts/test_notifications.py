import time_machine
from django.urls import reverse

from accounts.models import Notification
from complaints.services import complaint_register, sla_check


def test_an_escalation_reaches_the_managers_notifications_only(client, store_a, staff_a, member_a):
    with time_machine.travel("2026-03-01 10:00 +0800", tick=False):
        complaint_register(
            store=store_a, by=staff_a.consultant, channel="phone", category="other", description="x", member=member_a
        )
    with time_machine.travel("2026-03-02 11:00 +0800", tick=False):
        sla_check(store=store_a)
    client.force_login(staff_a.manager)
    page = client.get(reverse("notifications")).content.decode()
    assert "超过 24 小时未首次响应" in page
    assert client.get(reverse("visits:today")).context["unread_notifications"] == 1
    client.post(reverse("notifications_read"))
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    client.force_login(staff_a.specialist)
    assert "超过" not in client.get(reverse("notifications")).content.decode()


def test_an_open_complaint_shows_the_member_at_risk_on_the_list_and_page(client, store_a, staff_a, member_a):
    client.force_login(staff_a.consultant)
    assert "投诉未结" not in client.get(reverse("members:list")).content.decode()
    complaint_register(
        store=store_a, by=staff_a.consultant, channel="phone", category="other", description="x", member=member_a
    )
    assert "投诉未结" in client.get(reverse("members:list")).content.decode()
    assert "投诉未结" in client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
