"""The API's complaints, campaigns, gift plans and program rules (issue 13 item 2). DRF answers
anonymous callers 401. `complaint` was registered by store A's consultant (who sees it; a second
consultant of the store does not), `campaign` is a store-A draft, `gift_plan` a store-A birthday
gift; store B's manager (the outsider) gets a 404 on each of them."""

from tests.permission_table import Page, expect


def on_complaint(o):
    return {"pk": o.complaint.pk}


def on_campaign(o):
    return {"pk": o.campaign.pk}


def on_gift_plan(o):
    return {"pk": o.gift_plan.pk}


PAGES = [
    Page("api:complaints", expected=expect(200, anonymous=401), public=True),
    # Registering with an empty body: a 400 naming the fields (HQ's names the store too).
    Page("api:complaints", expected=expect(400, anonymous=401), method="post", public=True, note="register"),
    Page("api:complaint", on_complaint, expect(200, anonymous=401, other_consultant=404, outsider=404), public=True),
    Page(
        "api:complaint-timeline",
        on_complaint,
        expect(200, anonymous=401, other_consultant=404, outsider=404),
        public=True,
    ),
    # Accepting is for the store's leads and HQ; the consultant who registered it may not (403).
    Page(
        "api:complaint-transition",
        on_complaint,
        expect(200, anonymous=401, consultant=403, other_consultant=404, outsider=404),
        method="post",
        data={"to": "accepted"},
        public=True,
    ),
    Page("api:campaigns", expected=expect(200, anonymous=401), public=True),
    Page("api:campaign", on_campaign, expect(200, anonymous=401, outsider=404), public=True),
    Page("api:campaign-results", on_campaign, expect(200, anonymous=401, outsider=404), public=True),
    Page("api:gift_plans", expected=expect(200, anonymous=401), public=True),
    Page("api:gift_plan", on_gift_plan, expect(200, anonymous=401, outsider=404), public=True),
    # Any staff of the store marks a gift (whoever hands it over), as on the gift page.
    Page(
        "api:gift_plan-mark",
        on_gift_plan,
        expect(200, anonymous=401, outsider=404),
        method="post",
        data={"status": "prepared"},
        public=True,
    ),
    Page("api:program-rules", expected=expect(200, anonymous=401), public=True),
    # Changing them is HQ's: everyone else a 403 before the body is read. The table's client sends
    # its body as application/octet-stream, which HQ is answered 415 for (HQ's JSON writes are in
    # tests/api/test_rules_api.py).
    Page(
        "api:program-rules",
        expected=expect(403, anonymous=401, hq=415),
        method="patch",
        public=True,
        note="HQ only",
    ),
]
