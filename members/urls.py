from django.urls import include, path

from . import cross_store_views, transfer_views, views, webhook_views
from .ownership_views import handover, ownership_hub
from .relation_views import relation_create, relation_delete, relation_pick
from .tag_views import tag_add, tag_delete_view, tag_merge_view, tag_rename_view, tags
from .unassigned_views import unassigned_assign_view, unassigned_list

app_name = "members"
urlpatterns = [
    path("", views.member_list, name="list"),
    path("export.csv", views.member_export, name="export"),
    # Large exports as a job (issue 14): its page, the polled progress, the file.
    path("exports/<int:pk>/", views.export_job_view, name="export_job"),
    path("exports/<int:pk>/status/", views.export_job_status, name="export_job_status"),
    path("exports/<int:pk>/file/", views.export_job_file, name="export_job_file"),
    path("<int:pk>/erase/", views.member_erase_view, name="erase"),
    path("new/", views.member_create, name="create"),
    path("tags/", tags, name="tags"),
    path("tags/new/", tag_add, name="tag_add"),
    path("tags/<int:pk>/rename/", tag_rename_view, name="tag_rename"),
    path("tags/<int:pk>/merge/", tag_merge_view, name="tag_merge"),
    path("tags/<int:pk>/delete/", tag_delete_view, name="tag_delete"),
    path("duplicates/", include("members.duplicate_urls")),  # members:duplicates, duplicate_dismiss, merge
    path("import/", include("members.import_urls")),  # members:import, members:import_job(_status, _commit)
    path("<int:pk>/", views.member_detail, name="detail"),
    path("<int:pk>/edit/", views.member_edit, name="edit"),
    path("<int:pk>/phone/", views.member_reveal_phone, name="reveal_phone"),
    path("<int:pk>/purchases/new/", views.purchase_add, name="purchase_add"),
    path("<int:pk>/dates/new/", views.important_date_create, name="date_add"),
    path("<int:pk>/dates/<int:date_pk>/delete/", views.important_date_remove, name="date_delete"),
    path("<int:pk>/consultant/", views.member_assign, name="assign"),
    path("<int:pk>/tier/", views.member_tier, name="tier"),
    # Family links and referrals (issue 11 item 6).
    path("<int:pk>/relations/new/", relation_create, name="relation_add"),
    path("<int:pk>/relations/pick/", relation_pick, name="relation_pick"),
    path("<int:pk>/relations/<int:relation_pk>/delete/", relation_delete, name="relation_delete"),
    # Cross-store service (DOMAIN §13): another store's member by exact card or full phone.
    path("elsewhere/", cross_store_views.lookup, name="elsewhere"),
    path("elsewhere/member/", cross_store_views.member, name="elsewhere_member"),
    path("elsewhere/receipt/", cross_store_views.receipt, name="elsewhere_receipt"),
    path("elsewhere/visit/", cross_store_views.visit, name="elsewhere_visit"),
    path("elsewhere/complaint/", cross_store_views.complaint, name="elsewhere_complaint"),
    # Hand-over and the owner history (issue 11 item 1).
    path("ownership/", ownership_hub, name="ownership"),
    path("ownership/handover/", handover, name="handover"),
    # Members nobody serves, with a suggested owner (issue 11 item 2).
    path("unassigned/", unassigned_list, name="unassigned"),
    path("unassigned/assign/", unassigned_assign_view, name="unassigned_assign"),
    # Transfers between stores (issue 11 item 3, DOMAIN §13).
    path("transfers/", transfer_views.transfers, name="transfers"),
    path("transfers/find/", transfer_views.transfer_find, name="transfer_find"),
    path("transfers/new/", transfer_views.transfer_request_view, name="transfer_request"),
    path("transfers/<int:pk>/decide/", transfer_views.transfer_decide_view, name="transfer_decide"),
    path("transfers/<int:pk>/cancel/", transfer_views.transfer_cancel_view, name="transfer_cancel"),
    path("<int:pk>/transfer/", transfer_views.transfer_direct, name="transfer_direct"),
    # Webhooks per store (issue 13 item 4): managers and HQ.
    path("webhooks/", webhook_views.webhooks, name="webhooks"),
    path("webhooks/new/", webhook_views.webhook_add, name="webhook_add"),
    path("webhooks/<int:pk>/", webhook_views.webhook_detail, name="webhook"),
    path("webhooks/<int:pk>/active/", webhook_views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<int:pk>/deliveries/<int:delivery_pk>/resend/", webhook_views.webhook_resend, name="webhook_resend"),
]
