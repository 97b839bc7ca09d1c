"""Signals other apps listen to, so that members never imports them (visits reacts to purchases)."""

from django.dispatch import Signal

# Sent after a new purchase or return is saved by `purchase_record`; kwargs: purchase.
purchase_recorded = Signal()

# Sent after an import has written new purchases; kwargs: purchases (the new Purchase rows).
purchases_imported = Signal()

# Sent after a member is enrolled, their birthday changed or an important date added (a gift
# preparation may be due at once); kwargs: member.
member_dates_changed = Signal()

# Sent by `member_erase` inside its transaction, after the member is anonymised; kwargs: member,
# by, traces (the name, phone and card the person was known by: what to scrub from free text).
# Every app holding notes about members scrubs its own rows and closes what is still open.
member_erased = Signal()
