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

# Sent by `members.ownership.members_assign` inside its transaction after members changed
# consultant (assignment, hand-over, unassigned list, import, merge); kwargs: member_ids,
# consultant (Staff or None), by, previous ({member id: former consultant id or None}) and moved (a
# dict the receiver adds "tasks": <count> to, for the page's message). Visits moves the open tasks
# the former consultants held to the new owner (to the store's fallback when None).
members_reassigned = Signal()

# Sent by the transfer service inside its transaction after a member's home store changed;
# kwargs: member, from_store, to_store, on (the store-local effective day), by. Apps cancel what is
# open in the old store and make what is due in the new one.
member_transferred = Signal()

# Sent by the merge service inside its transaction, before `merged` is deleted; kwargs: survivor,
# merged, by, moved (a dict the receiver adds "<what>": <count> to). Every app holding rows of
# `merged` moves them to `survivor`, resolving its own uniqueness rules.
members_merging = Signal()

# Sent by `member_enroll` inside its transaction after the new member is saved; kwargs: member.
# (Webhooks queue their deliveries in the same transaction: an outbox, sent after the commit.)
member_enrolled = Signal()

# Sent inside the transaction that changed members' tiers (the replay writer, the month-end review,
# a manager's decision), once per batch; kwargs: changes, a list of (member id, home store id, from
# tier, to tier, date of the change). Receivers must stay set-based: an import's replay sends
# thousands at once.
member_tiers_changed = Signal()
