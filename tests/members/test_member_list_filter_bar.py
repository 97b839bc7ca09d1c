"""The member list's filter bar (issue 14): its options are plain values written by one template
loop, not model choices rendered by Django's widgets; they must offer and mark exactly what the
widgets did: the same values, the same labels (`StaffChoiceField`'s for the consultants, the
store's name for HQ's store filter) and the same option marked as chosen."""

import pytest
from django import forms

from accounts.models import Role, Store
from members.forms import MemberFilterForm, StaffChoiceField, staff_choices

from ..factories import StaffFactory

pytestmark = pytest.mark.django_db


def widget_options(form: MemberFilterForm, name: str) -> list[tuple[str, str, bool]]:
    """What Django's Select widget makes of the same field (the way the page rendered it before)."""
    field = form.fields[name]
    if name == "consultant":  # the model choice field it was
        field = StaffChoiceField(
            queryset=staff_choices(viewer=form.viewer), show_store=form.viewer.is_hq, empty_label="全部顾问"
        )
    elif name == "store":
        field = forms.ModelChoiceField(queryset=Store.objects.order_by("code"), empty_label="全部门店")
    widget = field.widget
    widget.choices = field.choices
    bound = form[name]
    value = widget.format_value(bound.value())
    return [
        (str(option["value"]), str(option["label"]), option["selected"])
        for _group, options, _index in widget.optgroups(name, value)
        for option in options
    ]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"page": "2"},
        {"tier": "A", "scope": "mine"},
        {"consultant": "CONSULTANT", "store": "STORE", "birthday_month": "3", "sort": "spend"},
        {"consultant": "999999", "store": "x", "birthday_month": "13", "status": "lapsed", "scope": "unassigned"},
    ],
)
def test_the_filter_bar_offers_and_marks_what_the_widgets_did(store_a, store_b, staff_a, staff_b, hq, data):
    named = StaffFactory(store=store_b, role=Role.VIP_SPECIALIST, display_name="小林", first_name="林", last_name="")
    StaffFactory(store=store_a, role=Role.CONSULTANT, first_name="王", last_name="芳", username="wangfang")
    StaffFactory(store=store_a, role=Role.CONSULTANT, is_active=False)  # never offered
    if data:
        data = {k: v.replace("CONSULTANT", str(named.pk)).replace("STORE", str(store_b.pk)) for k, v in data.items()}

    for viewer in (hq, staff_a.manager, staff_a.specialist, staff_a.consultant):
        form = MemberFilterForm(data, viewer=viewer)
        selects = form.selects()

        assert [field.name for field, _options in selects] == [n for n in form.fields if n != "q"]
        for field, options in selects:
            assert [(v, str(label), chosen) for v, label, chosen in options] == widget_options(form, field.name)
        consultants = {f.name: o for f, o in selects}["consultant"]
        assert len(consultants) > 1  # staff are offered
