from django.urls import include, path

from . import views

app_name = "members"
urlpatterns = [
    path("", views.member_list, name="list"),
    path("export.csv", views.member_export, name="export"),
    path("<int:pk>/erase/", views.member_erase_view, name="erase"),
    path("new/", views.member_create, name="create"),
    path("import/", include("members.import_urls")),  # members:import, members:import_job(_status, _commit)
    path("<int:pk>/", views.member_detail, name="detail"),
    path("<int:pk>/edit/", views.member_edit, name="edit"),
    path("<int:pk>/phone/", views.member_reveal_phone, name="reveal_phone"),
    path("<int:pk>/purchases/new/", views.purchase_add, name="purchase_add"),
    path("<int:pk>/dates/new/", views.important_date_create, name="date_add"),
    path("<int:pk>/dates/<int:date_pk>/delete/", views.important_date_remove, name="date_delete"),
    path("<int:pk>/consultant/", views.member_assign, name="assign"),
    path("<int:pk>/tier/", views.member_tier, name="tier"),
]
