"""Password policy beyond Django's validators: letters and digits both."""

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class MixedCharacterValidator:
    def validate(self, password: str, user: Any = None) -> None:
        if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
            raise ValidationError(
                _("The password must contain both letters and digits."), code="password_mixed"
            )

    def get_help_text(self) -> str:
        return _("Your password must contain both letters and digits.")
