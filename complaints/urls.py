from django.urls import path

from . import views

app_name = "complaints"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("new/", views.register, name="register"),
    path("board/", views.board, name="board"),
    path("stats/", views.stats, name="stats"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/transition/", views.transition, name="transition"),
]
