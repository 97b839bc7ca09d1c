"""The API's purchases and returns, a member's dates and tags, and the cross-store lookup (issue 13):
anonymous callers get 401; another store's purchase or member a 404; changing a member's dates
and tags is for whoever may edit the member (another consultant of the store gets 403); the
lookup by exact card or full phone is for store staff (another store's member is found, with what
the cross-store page shows; HQ has no till: 403)."""

from members.models import Purchase
from tests.factories import PurchaseFactory
from tests.permission_table import Page, expect


def on_purchase(o):
    """A purchase of member_a, made once (the privacy crawl calls this again)."""
    purchase = Purchase.objects.filter(member=o.member, receipt_no="TABLE-1").first()
    if purchase is None:
        purchase = PurchaseFactory(member=o.member, receipt_no="TABLE-1")
    return {"pk": purchase.pk}


def on_member_date(o):
    return {"pk": o.member.pk, "date_pk": o.important_date.pk}


def on_member_tag(o):
    return {"pk": o.member.pk, "name": "婚礼季"}


def on_member(o):
    return {"pk": o.member.pk}


def by_card(o):
    return {"q": o.member.card_no}


PAGES = [
    Page("api:purchases", expected=expect(200, anonymous=401), public=True),
    Page("api:purchase", on_purchase, expect(200, anonymous=401, outsider=404), public=True),
    Page(
        "api:member-date",
        on_member_date,
        expect(204, anonymous=401, other_consultant=403, outsider=404),
        method="delete",
        public=True,
    ),
    Page("api:member-tags", on_member, expect(200, anonymous=401, outsider=404), public=True),
    # An empty body: a 400 naming `name`, for whoever may edit the member.
    Page(
        "api:member-tags",
        on_member,
        expect(400, anonymous=401, other_consultant=403, outsider=404),
        method="post",
        public=True,
    ),
    # The member has no such tag: 404, after the same checks.
    Page(
        "api:member-tag",
        on_member_tag,
        expect(404, anonymous=401, other_consultant=403),
        method="delete",
        public=True,
    ),
    Page("api:member-lookup", expected=expect(200, anonymous=401, hq=403), data=by_card, public=True),
]
