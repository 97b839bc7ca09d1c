from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("", views.index, name="list"),
    path("calendar/", views.month, name="calendar"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.results, name="results"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/launch/", views.launch, name="launch"),
    path("<int:pk>/summary/", views.summary, name="summary"),
    path("<int:pk>/archive/", views.archive, name="archive"),
]
