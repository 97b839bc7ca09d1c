"""Signals other apps listen to, so that members never imports them (visits reacts to purchases)."""

from django.dispatch import Signal

# Sent after a new purchase or return is saved by `purchase_record`; kwargs: purchase.
purchase_recorded = Signal()
