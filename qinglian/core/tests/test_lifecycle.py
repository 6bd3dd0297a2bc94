from enum import StrEnum

import pytest

from qinglian.core.errors import InvalidTransition
from qinglian.core.lifecycle import Lifecycle


class State(StrEnum):
    DRAFT = "draft"
    POSTED = "posted"
    CANCELLED = "cancelled"


LIFECYCLE = Lifecycle(
    {State.DRAFT: frozenset({State.POSTED}), State.POSTED: frozenset({State.CANCELLED})}
)


def test_allowed_moves_pass():
    LIFECYCLE.check(State.DRAFT, State.POSTED)
    LIFECYCLE.check(State.POSTED, State.CANCELLED)


@pytest.mark.parametrize(
    ("current", "target"),
    [(State.DRAFT, State.CANCELLED), (State.CANCELLED, State.DRAFT), (State.POSTED, State.DRAFT)],
)
def test_illegal_moves_raise(settings, current, target):
    with pytest.raises(InvalidTransition):
        LIFECYCLE.check(current, target)
