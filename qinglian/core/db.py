"""Database helpers: retry a service on serialization failure or deadlock."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

P = ParamSpec("P")
R = TypeVar("R")
RETRYABLE_SQLSTATES = {"40001", "40P01"}


def _is_retryable(error: BaseException) -> bool:
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "database is locked" in str(error)


def retry_on_conflict(attempts: int = 5) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap the outermost service call (outside its transaction) to retry whole transactions."""

    def decorator(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(1, attempts + 1):
                try:
                    return function(*args, **kwargs)
                except OperationalError as error:
                    if (
                        attempt == attempts
                        or not _is_retryable(error)
                        or connection.in_atomic_block
                    ):
                        raise
                    time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter only
            raise AssertionError("unreachable")

        return wrapper

    return decorator
