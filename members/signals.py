"""Signals other apps listen to, so that members never imports them (visits reacts to purchases)."""

from django.dispatch import Signal

# Sent after a new purchase or return is saved by `purchase_record`; kwargs: purchase.
purchase_recorded = Signal()

# Sent after an import has written new purchases; kwargs: purchases (the new Purchase rows).
purchases_imported = Signal()

# Sent after a member is enrolled, their birthday changed or an important date added (a gift
# preparation may be due at once); kwargs: member.
member_dates_changed = Signal()
