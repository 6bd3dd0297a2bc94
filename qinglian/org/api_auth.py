from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from .services import api_token_authenticate


class TokenAuth(HttpBearer):
    """`Authorization: Bearer ql_...` for other systems (tokens are issued per user)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user
