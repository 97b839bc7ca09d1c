from django.urls import path

from . import top_spender_views, views

app_name = "visits"
urlpatterns = [
    path("", views.today, name="today"),
    path("tasks/<int:pk>/", views.task_row, name="task"),
    path("tasks/<int:pk>/complete/", views.complete_task, name="task_complete"),
    path("tasks/<int:pk>/snooze/", views.snooze_task, name="task_snooze"),
    path("tasks/<int:pk>/reassign/", views.reassign_task, name="task_reassign"),
    path("tasks/<int:pk>/message/", views.task_message, name="task_message"),
    path("members/<int:pk>/call/", views.call_member, name="call"),
    path("members/<int:pk>/visits/", views.member_visit_list, name="member_visits"),
    path("members/<int:pk>/visits/new/", views.visit_add, name="visit_add"),
    path("members/<int:pk>/invite/", views.invitation_add, name="invitation_add"),
    path("board/", views.board, name="board"),
    path("templates/", views.message_templates, name="message_templates"),
    path("templates/new/", views.message_template_add, name="message_template_add"),
    path("templates/<int:pk>/", views.message_template_edit, name="message_template_edit"),
    path("templates/<int:pk>/delete/", views.message_template_delete_view, name="message_template_delete"),
    path("invitations/", views.invitations, name="invitations"),
    path("invitations/<int:pk>/advance/", views.advance_invitation, name="invitation_advance"),
    path("gifts/", views.gifts, name="gifts"),
    path("gifts/generate/", views.generate_gift_plans, name="gifts_generate"),
    path("gifts/<int:pk>/mark/", views.mark_gift, name="gift_mark"),
    path("top-spenders/", top_spender_views.top_spenders_page, name="top_spenders"),
]
