"""The actor for work nobody signed in to do: installation, demo data, imports from the CLI.

Services accept it where they accept a user; the audit trail records it as "system". Web and
API requests always pass the signed-in user, never this.
"""

from __future__ import annotations

from typing import Any


class SystemActor:
    pk = None
    id = None
    name = "system"
    username = "system"
    is_authenticated = True
    is_active = True
    company_id = None

    def __repr__(self) -> str:
        return "<SystemActor>"


SYSTEM_ACTOR = SystemActor()


def is_system(actor: Any) -> bool:
    return actor is SYSTEM_ACTOR
