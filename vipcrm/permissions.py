"""Role checks for views (DOMAIN §11).

The role decides which pages a person may open (403 otherwise); which *objects* they may see is
decided by the selectors (`member_get(viewer=..., pk=...)` is a 404 outside the viewer's store), so
a view needs one decorator here and one selector call, never its own ownership test.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from accounts.models import Role

# Who may do what, named once so that views and templates agree.
STORE_LEADS = (Role.VIP_SPECIALIST, Role.MANAGER, Role.HQ)  # reassign members, import
MANAGERS = (Role.MANAGER, Role.HQ)  # set or lock a tier


def has_role(user, *roles: str) -> bool:
    return bool(user.is_authenticated and getattr(user, "role", None) in roles)


def role_required(*roles: str) -> Callable:
    """Let only staff with one of `roles` in; everyone else signed in gets a 403.

    LoginRequiredMiddleware has already sent anonymous visitors to the login page; the check here
    is a second line for views marked public by mistake.
    """
    if not roles:
        raise ValueError("role_required() needs at least one role")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = roles
        return wrapper

    return decorator
