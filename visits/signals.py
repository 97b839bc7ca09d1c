"""Signals other apps listen to, so that visits never imports them."""
from django.dispatch import Signal

# Sent after `task_complete` has recorded the visit and closed the task; kwargs: task, visit.
task_completed = Signal()
