"""Signals other apps listen to, so that accounts never imports them."""

from django.dispatch import Signal

# Sent by `accounts.services.staff_deactivate` inside its transaction after the account is
# switched off (and by a hand-over from an account already inactive, to sweep what it still
# holds); kwargs: staff, by. Visits moves whatever open tasks the person still held to the
# store's VIP specialist (else manager): a deactivated person never holds open tasks.
staff_deactivated = Signal()
