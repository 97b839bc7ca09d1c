from django.shortcuts import redirect


def home(request):
    # The member list is the front page until the daily list (Today) exists.
    return redirect("members:list")
