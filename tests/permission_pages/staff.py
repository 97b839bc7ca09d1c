"""Staff, agreement and tag pages (issue 11 item 7).

Staff pages: managers (their store's consultants and VIP specialists) and HQ; store B's manager
(`outsider`) finds no store A person (404); the VIP specialist and consultants get a 403. Agreement
pages: the store leads (VIP specialist, manager, HQ). Tags are chain-wide: store leads list and add
them, managers and HQ (the outsider too: a manager) rename, merge and delete."""

from __future__ import annotations

from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ConfidentialityAgreement, Role, Staff
from accounts.services import agreement_record
from members.models import MemberTag
from tests.factories import StaffFactory
from tests.permission_table import Page, expect

PDF = b"%PDF-1.4\n% signed agreement\n"


def on_consultant(o):
    return {"pk": o.users["consultant"].pk}


def on_specialist(o):
    """Store A's VIP specialist owns no members: deactivation goes through."""
    return {"pk": o.users["specialist"].pk}


def on_a_leaver(o):
    # Called once per row that uses it (and again by the privacy crawl): one leaver for all.
    leaver = Staff.objects.filter(username="a_leaver").first() or StaffFactory(
        username="a_leaver", role=Role.CONSULTANT, store=o.member.home_store, is_active=False
    )
    return {"pk": leaver.pk}


def a_new_consultant(o):
    return {
        "username": "new.colleague",
        "display_name": "新同事",
        "role": "consultant",
        "store": o.member.home_store.pk,
    }


def an_edit(o):
    return {"display_name": "改名", "email": "", "role": "consultant", "store": o.member.home_store.pk}


def a_signed_agreement(o):
    scan = SimpleUploadedFile("agreement.pdf", PDF, content_type="application/pdf")
    return {"version": "2.0", "signed_on": date.today().isoformat(), "scan": scan}


def on_a_scanned_agreement(o):
    # The other consultant's: the privacy crawl needs `consultant` without any agreement.
    on_file = ConfidentialityAgreement.objects.filter(staff=o.users["other_consultant"], version="2.0").first()
    if on_file is not None and on_file.scan:  # asked for again (the privacy crawl): the one on file
        return {"pk": on_file.pk}
    scan = SimpleUploadedFile("agreement.pdf", PDF, content_type="application/pdf")
    agreement = agreement_record(
        staff=o.users["other_consultant"], signed_on=date.today(), version="2.0", by=None, scan=scan
    )
    return {"pk": agreement.pk}


def on_a_tag(o):
    return {"pk": MemberTag.objects.get_or_create(name="婚礼季")[0].pk}


def into_another_tag(o):
    return {"target": MemberTag.objects.get_or_create(name="偏好真丝")[0].pk}


LEADS_ONLY = {"consultant": 403, "other_consultant": 403}
MANAGERS_ONLY = {"consultant": 403, "other_consultant": 403, "specialist": 403}
MANAGERS_ON_STORE_A = {**MANAGERS_ONLY, "outsider": 404}

PAGES: list[Page] = [
    Page("staff_create", expected=expect(200, **MANAGERS_ONLY)),
    # The outsider creates in their own store (a manager's store is never chosen): 200 too.
    Page("staff_create", expected=expect(200, **MANAGERS_ONLY), method="post", data=a_new_consultant),
    Page("staff_edit", on_consultant, expect(200, **MANAGERS_ON_STORE_A)),
    Page("staff_edit", on_consultant, expect(302, **MANAGERS_ON_STORE_A), method="post", data=an_edit),
    Page("staff_deactivate", on_specialist, expect(200, **MANAGERS_ON_STORE_A)),
    Page("staff_deactivate", on_specialist, expect(302, **MANAGERS_ON_STORE_A), method="post"),
    Page("staff_reactivate", on_a_leaver, expect(302, **MANAGERS_ON_STORE_A), method="post"),
    Page("staff_reactivate", on_a_leaver, expect(405), note="a link"),
    Page("agreements", expected=expect(200, **LEADS_ONLY)),
    # `consultant`'s agreement: store A's leads and HQ; nobody files their own (a consultant's role is 403 first).
    Page("agreement_record", on_consultant, expect(200, **LEADS_ONLY, outsider=404)),
    Page(
        "agreement_record",
        on_consultant,
        expect(302, **LEADS_ONLY, outsider=404),
        method="post",
        data=a_signed_agreement,
    ),
    Page("agreement_scan", on_a_scanned_agreement, expect(200, **LEADS_ONLY, outsider=404)),
    Page("members:tags", expected=expect(200, **LEADS_ONLY)),
    Page("members:tag_add", expected=expect(302, **LEADS_ONLY), method="post", data={"name": "新标签"}),
    Page("members:tag_add", expected=expect(405), note="a link"),
    Page("members:tag_rename", on_a_tag, expect(200, **MANAGERS_ONLY)),
    Page("members:tag_rename", on_a_tag, expect(302, **MANAGERS_ONLY), method="post", data={"name": "婚礼 季"}),
    Page("members:tag_merge", on_a_tag, expect(200, **MANAGERS_ONLY)),
    Page("members:tag_merge", on_a_tag, expect(302, **MANAGERS_ONLY), method="post", data=into_another_tag),
    Page("members:tag_delete", on_a_tag, expect(200, **MANAGERS_ONLY)),
    Page("members:tag_delete", on_a_tag, expect(302, **MANAGERS_ONLY), method="post"),
]
