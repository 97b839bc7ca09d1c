"""What keeps personal data where it belongs: middleware that keeps it out of browser caches, off a
shared shop device left signed in and away from a malformed URL that would otherwise reach a query;
and the login lockout's authentication backend (django-axes, per username and address, and per
address)."""

from __future__ import annotations

import ipaddress
import time
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.contrib.auth.signals import user_logged_in
from django.db.models import Sum
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from rest_framework.views import APIView

from . import params

LAST_SEEN = "vipcrm_last_seen"
# The session is written at most this often to record activity: an idle timeout of minutes needs no
# more precision, and a write on every request would cost every page a query.
TOUCH_EVERY_SECONDS = 60


def idle_seconds() -> int:
    return settings.VIPCRM_SESSION_IDLE_MINUTES * 60


@receiver(user_logged_in, dispatch_uid="vipcrm.security.start_idle_clock")
def start_idle_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


class QueryCheckMiddleware:
    """A NUL byte, another control character or an absurdly long value anywhere in the query
    string is a 400 (vipcrm.params), whichever view the URL names."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            params.check_query(request.GET, max_length=settings.VIPCRM_MAX_QUERY_VALUE_LENGTH)
        except params.BadParameter as e:
            if request.path_info.startswith("/api/"):  # the API's one error format (vipcrm.api.errors)
                from .api.errors import errors_body

                error = {"field": e.name, "code": "invalid", "message": e.problem}
                return JsonResponse(errors_body([error]), status=400, json_dumps_params={"ensure_ascii": False})
            raise
        return self.get_response(request)


class SessionIdleTimeoutMiddleware:
    """Signs a person out after VIPCRM_SESSION_IDLE_MINUTES without a request (shop devices are
    shared); the next page is the login page, which says why."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN)
            if isinstance(last_seen, int) and now - last_seen > idle_seconds():
                logout(request)
                messages.info(request, _("长时间未操作，已自动退出，请重新登录。"))
            elif not isinstance(last_seen, int) or now - last_seen >= TOUCH_EVERY_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and the rest of never_cache) on every response to a signed-in
    person: a page, partial, export or API answer may hold member data, and a shared browser's
    cache or back button must not show it to the next person. Static files never get here
    (WhiteNoise answers them first) and stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # request.user is re-read here: DRF sets it on the request when Basic authentication succeeds.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's: every page needs a signed-in user (anonymous people go to the login page), except
    the API. A DRF view authenticates itself (session, Basic or a POS key) and answers 401 with
    `WWW-Authenticate` or 403 in the API's error format: a redirect to an HTML login page would
    mean nothing to a till."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)  # set by APIView.as_view() and @api_view
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class MustChangePasswordMiddleware:
    """Someone signed in with a temporary password (a manager's reset) sees only the password
    change page until they have chosen their own."""

    ALLOWED = ("password_change", "logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and getattr(user, "must_change_password", False):
            allowed = {reverse(name) for name in self.ALLOWED}
            if request.path_info not in allowed:
                return redirect("password_change")
        return self.get_response(request)


def client_ip(request) -> str | None:
    """The client's address for the login lockout (AXES_CLIENT_IP_CALLABLE).

    Behind VIPCRM_TRUSTED_PROXY_COUNT reverse proxies, each appends the address it saw to
    X-Forwarded-For: the client is the one the outermost trusted proxy saw, that many from the right
    (anything further left was written by the client and proves nothing). Without proxies, or without
    the header, it is REMOTE_ADDR. Without this, every client behind a proxy would share one address:
    one person's guesses would lock the whole site out."""
    proxies = settings.VIPCRM_TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and forwarded:
        candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR")


def address_failures(ip_address: str | None) -> int:
    """Failed logins from one address, whatever the usernames, within the cool-off period."""
    if not ip_address:
        return 0
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    recent = AccessAttempt.objects.filter(ip_address=ip_address, attempt_time__gte=since)
    return recent.aggregate(n=Sum("failures_since_start"))["n"] or 0


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in AUTHENTICATION_BACKENDS, plus a limit per address.

    django-axes locks a username at one address (5 failures). That leaves a run of guesses over many
    usernames from one address, each costing a password hash (0.75 s of CPU with PBKDF2): so an
    address with VIPCRM_LOGIN_ADDRESS_FAILURE_LIMIT failures in the cool-off period is refused
    before any hashing too. The limit is far above what a shop's staff mistype behind one address.

    A call without a request (a script or a shell checking a password) is no web login to throttle:
    it goes on to ModelBackend instead of failing as django-axes would."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        if address_failures(request.axes_ip_address) >= settings.VIPCRM_LOGIN_ADDRESS_FAILURE_LIMIT:
            # As django-axes does for a locked username: refuse, and answer with the lockout page.
            request.axes_locked_out = True
            raise AxesBackendPermissionDenied("Too many failed logins from this address.")
        return None
