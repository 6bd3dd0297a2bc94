from typing import Any

from django.http import HttpRequest

from qinglian.org.scopes import data_scope

from .navigation import navigation_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = data_scope(user)
    return {"nav_items": navigation_for(scope), "scope": scope}
