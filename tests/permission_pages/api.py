"""The API's members viewset, its router root and the schema and docs (issue 13): DRF answers
anonymous callers 401 (with WWW-Authenticate), never a login redirect; the schema and the docs
describe the API and hold no data, so everyone gets them."""

from tests.permission_table import ROLES, Page, expect


def on_member(o):
    return {"pk": o.member.pk}


PAGES = [
    Page("api:api-root", expected=expect(200, anonymous=401), public=True),
    Page("api:schema", expected=dict.fromkeys(ROLES, 200), public=True),
    Page("api:docs", expected=dict.fromkeys(ROLES, 200), public=True),
    # Enrol: an empty body is a 400 naming the fields; HQ has no store to enrol into (the page asks).
    Page("api:members", expected=expect(400, anonymous=401, hq=403), method="post", public=True, note="enrol"),
    Page("api:member-dates", on_member, expect(200, anonymous=401, outsider=404), public=True),
    # Adding a date: whoever may edit the member (not another consultant of the store).
    Page(
        "api:member-dates",
        on_member,
        expect(400, anonymous=401, other_consultant=403, outsider=404),
        method="post",
        public=True,
    ),
]
