"""Explicit state-transition maps for documents (draft → submitted → ... → cancelled)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from django.utils.translation import gettext as _

from .errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


class Lifecycle(Generic[S]):
    def __init__(self, transitions: Mapping[S, frozenset[S]]) -> None:
        self.transitions = transitions

    def can_move(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        if not self.can_move(current, target):
            raise InvalidTransition(
                _("Cannot move from %(current)s to %(target)s.")
                % {"current": current, "target": target}
            )
