from typing import Any

from django.http import HttpRequest, HttpResponse


def placeholder(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    return HttpResponse("todo")
