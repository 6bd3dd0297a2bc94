from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import home_view_data


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", home_view_data(user=request.user))
