"""Message templates (issue 9, item 9): the variables and how they are filled in, HQ's defaults
and a store's overrides on the cards, the pages that edit them, and recording the channel a
greeting was copied for."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditEntry
from members.models import Gender
from visits.messages import MessageContext, render, salutation, template_errors
from visits.models import CONTACT_KINDS, MessageTemplate, TaskKind
from visits.services import task_create

from ..factories import MemberFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


# --- The variables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "gender", "expected"),
    [
        ("张丽", Gender.FEMALE, "张女士"),
        ("李明", Gender.MALE, "李先生"),
        ("欧阳娜娜", Gender.FEMALE, "欧阳女士"),  # 复姓
        ("司马光", Gender.MALE, "司马先生"),
        ("张丽", "", "张丽"),  # gender not recorded: the full name, never a guess
        ("Anna Li", Gender.FEMALE, "Anna Li"),  # no surname-first rule to rely on
        ("王", Gender.MALE, "王"),
    ],
)
def test_it_addresses_a_member_by_surname_and_title_only_when_it_knows_the_gender(name, gender, expected):
    assert salutation(name, gender) == expected


def test_it_fills_in_every_variable_in_chinese_or_english():
    context = MessageContext(
        name="张丽",
        gender=Gender.FEMALE,
        consultant="小王",
        store="上海店",
        gift="丝巾",
        to_next_tier=3200,
        birthday=date(1990, 3, 12),
    )
    body = "{称呼}/{salutation} {顾问} {门店} {礼品} {升级差额} {生日} {birthday} {{不是变量}}"

    assert render(body, context, today=date(2026, 3, 10)) == (
        "张女士/张女士 小王 上海店 丝巾 ¥3,200 3月12日 3月12日 {不是变量}"
    )


@pytest.mark.parametrize(
    "body",
    [
        "{姓名}您好",  # not a variable
        "{称呼.__class__}",  # attribute access
        "{称呼[0]}",  # indexing
        "{称呼!r}",  # conversion
        "{称呼:>20}",  # format spec
        "{}您好",  # positional
        "您好{称呼",  # unbalanced brace
    ],
)
def test_it_refuses_anything_but_the_known_variables(body):
    assert template_errors(body)
    context = MessageContext(name="张丽", gender="F", consultant="小王", store="上海店")
    assert render(body, context, today=date(2026, 3, 10)) == body  # never evaluated


def test_it_names_the_unknown_variable_and_the_known_ones():
    (error,) = template_errors("{称呼}您好，{姓名}")

    assert "{姓名}" in error and "{称呼}" in error and "{升级差额}" in error


def test_it_seeds_valid_defaults_for_every_contact_kind():
    defaults = MessageTemplate.objects.filter(store__isnull=True)

    assert set(defaults.values_list("kind", flat=True)) >= CONTACT_KINDS
    assert not [t.name for t in defaults if template_errors(t.body)]


# --- On the card ---------------------------------------------------------------------------------


def card_messages(client):
    """The greetings of the viewer's one card, from its greeting panel."""
    (card,) = client.get(reverse("visits:today")).context["listing"].cards
    panel = client.get(reverse("visits:task_message", args=[card.pk]), **HTMX)
    assert [t.name for t in panel.templates][0] == "visits/_card_message.html"
    return panel.context["card"].messages


def test_it_offers_the_templates_of_the_cards_kinds_filled_in(client, staff_a, member_a):
    task_create(member=member_a, kind=TaskKind.BIRTHDAY, due_date=date(2026, 3, 10), origin="t:1")
    client.force_login(staff_a.consultant)

    messages = card_messages(client)

    assert [name for _pk, name, _text in messages] == ["生日祝福"]
    text = messages[0][2]
    assert text.startswith("张女士，今天是您的生日！上海店全体同事祝您生日快乐")
    assert "{" not in text


def test_it_uses_a_stores_override_and_additions_and_never_another_stores(client, store_a, store_b, staff_a, member_a):
    default = MessageTemplate.objects.get(store__isnull=True, kind=TaskKind.BIRTHDAY)
    MessageTemplate.objects.create(
        store=store_a, kind=TaskKind.BIRTHDAY, name="本店版", body="{称呼}生日快乐！", replaces=default
    )
    MessageTemplate.objects.create(store=store_a, kind=TaskKind.BIRTHDAY, name="加一句", body="{称呼}，礼物已备好")
    MessageTemplate.objects.create(store=store_b, kind=TaskKind.BIRTHDAY, name="北京版", body="北京的问候")
    task_create(member=member_a, kind=TaskKind.BIRTHDAY, due_date=date(2026, 3, 10), origin="t:1")
    client.force_login(staff_a.consultant)

    messages = card_messages(client)

    assert [(name, text) for _pk, name, text in messages] == [
        ("本店版", "张女士生日快乐！"),
        ("加一句", "张女士，礼物已备好"),
    ]


def test_it_records_the_channel_a_greeting_was_copied_for(client, staff_a, member_a):
    task, _new = task_create(member=member_a, kind=TaskKind.BIRTHDAY, due_date=date(2026, 3, 10), origin="t:1")
    template = MessageTemplate.objects.get(store__isnull=True, kind=TaskKind.BIRTHDAY)
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_message", args=[task.pk]), {"channel": "wechat", "template": template.pk}, **HTMX
    )

    assert "已复制，已记录（微信）" in response.content.decode()
    entry = AuditEntry.objects.get(action="task.message.sent")
    assert (entry.actor, entry.object_id, entry.data["channel"], entry.data["template"]) == (
        staff_a.consultant,
        str(task.pk),
        "wechat",
        template.pk,
    )
    task.refresh_from_db()
    assert task.status == "open"  # sending is not reaching: the card stays until a contact is logged


def test_it_refuses_another_stores_template_or_an_unknown_channel(client, store_b, staff_a, member_a):
    task, _new = task_create(member=member_a, kind=TaskKind.BIRTHDAY, due_date=date(2026, 3, 10), origin="t:1")
    theirs = MessageTemplate.objects.create(store=store_b, kind=TaskKind.BIRTHDAY, name="北京版", body="北京")
    client.force_login(staff_a.consultant)
    url = reverse("visits:task_message", args=[task.pk])

    client.post(url, {"channel": "wechat", "template": theirs.pk}, **HTMX)
    client.post(url, {"channel": "pigeon"}, **HTMX)

    assert not AuditEntry.objects.filter(action="task.message.sent").exists()


# --- The pages -------------------------------------------------------------------------------------


def test_it_lets_the_vip_specialist_replace_a_default_for_the_store(client, store_a, staff_a):
    default = MessageTemplate.objects.get(store__isnull=True, kind=TaskKind.CARE, name="近况问候")
    client.force_login(staff_a.specialist)

    form = client.get(reverse("visits:message_template_add"), {"replaces": default.pk})
    response = client.post(
        reverse("visits:message_template_add") + f"?replaces={default.pk}",
        {"name": "近况问候（本店）", "body": "{称呼}您好，我是{顾问}。", "replaces": default.pk},
    )

    assert default.body in form.content.decode()  # the default's text to start from
    assert response.status_code == 302
    override = MessageTemplate.objects.get(store=store_a)
    assert (override.kind, override.replaces, override.updated_by) == (TaskKind.CARE, default, staff_a.specialist)
    page = client.get(reverse("visits:message_templates")).content.decode()
    assert "本店替代" in page and "近况问候（本店）" in page
    assert AuditEntry.objects.filter(action="message_template.created").count() == 1


def test_it_shows_an_unknown_variable_as_a_form_error_and_saves_nothing(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.post(
        reverse("visits:message_template_add"), {"kind": "care", "name": "新", "body": "{称呼}您好{会员卡号}"}
    )

    assert response.status_code == 200
    assert "不认识的变量：{会员卡号}" in response.content.decode()
    assert not MessageTemplate.objects.filter(name="新").exists()


def test_it_keeps_hqs_defaults_for_hq(client, staff_a, hq):
    default = MessageTemplate.objects.get(store__isnull=True, kind=TaskKind.CARE, name="近况问候")
    edit = reverse("visits:message_template_edit", args=[default.pk])

    client.force_login(staff_a.manager)
    assert client.post(edit, {"kind": "care", "name": "改", "body": "改"}).status_code == 403
    client.force_login(hq)
    assert client.post(edit, {"kind": "care", "name": "近况问候", "body": "{称呼}好久不见"}).status_code == 302

    default.refresh_from_db()
    assert default.body == "{称呼}好久不见"


def test_it_restores_the_default_when_the_override_is_deleted(client, store_a, staff_a, member_a):
    default = MessageTemplate.objects.get(store__isnull=True, kind=TaskKind.BIRTHDAY)
    override = MessageTemplate.objects.create(
        store=store_a, kind=TaskKind.BIRTHDAY, name="本店版", body="本店", replaces=default
    )
    task_create(member=member_a, kind=TaskKind.BIRTHDAY, due_date=date(2026, 3, 10), origin="t:1")
    client.force_login(staff_a.specialist)

    client.post(reverse("visits:message_template_delete", args=[override.pk]))

    assert not MessageTemplate.objects.filter(pk=override.pk).exists()
    client.force_login(staff_a.consultant)
    assert [name for _pk, name, _text in card_messages(client)] == [default.name]


def test_it_hides_another_stores_template_behind_a_404(client, store_b, staff_a):
    theirs = MessageTemplate.objects.create(store=store_b, kind=TaskKind.CARE, name="北京版", body="北京")
    client.force_login(staff_a.manager)

    assert client.get(reverse("visits:message_template_edit", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("visits:message_template_delete", args=[theirs.pk])).status_code == 404
    assert MessageTemplate.objects.filter(pk=theirs.pk).exists()


def test_it_keeps_consultants_to_picking_templates(client, staff_a):
    client.force_login(staff_a.consultant)

    assert client.get(reverse("visits:message_templates")).status_code == 403
    assert (
        client.post(reverse("visits:message_template_add"), {"kind": "care", "name": "x", "body": "y"}).status_code
        == 403
    )
    assert not MessageTemplate.objects.filter(name="x").exists()


def test_it_lists_every_kind_in_two_queries_beyond_the_session(client, staff_a, django_assert_max_num_queries):
    client.force_login(staff_a.specialist)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("visits:message_templates"))

    assert "生日祝福" in response.content.decode() and "{升级差额}" in response.content.decode()


def test_it_gives_a_member_without_a_gender_their_full_name(client, staff_a, store_a):
    member = MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="林晓", gender="")
    task_create(member=member, kind=TaskKind.CARE, due_date=date(2026, 3, 10), origin="t:1")
    client.force_login(staff_a.consultant)

    assert all(text.startswith("林晓您好") for _pk, _name, text in card_messages(client))
