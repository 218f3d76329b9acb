"""The username index rows a command touches (plain functions over the application's `find`):
an index row owns one name, so two users never hold it at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from services.identity.domain.errors import refuse
from services.identity.domain.model import User, UsernameIndex, username_index_id

Find = Callable[[UUID], Any]


def default_username(find: Find, email: str) -> str:
    """The email's local part, or the whole email when that name is taken."""
    local = email.split("@")[0]
    index = find(username_index_id(local))
    return email if index is not None and index.user_id is not None else local


def move_username(find: Find, user: User, username: str) -> list[Any]:
    """The rows a rename touches: the new name claimed, the old one released."""
    target = find(username_index_id(username))
    if target is not None and target.user_id not in (None, str(user.id)):
        raise refuse("user.username_taken", "username is taken by another user",
                     field="username")
    old = find(username_index_id(user.username))
    if old is not None and old.id == username_index_id(username):
        return []
    if target is None:
        target = UsernameIndex(username=username, user_id=str(user.id))
    else:
        target.reclaim(str(user.id))
    if old is not None:
        old.release()
    return [target] + ([old] if old is not None else [])
