"""Identity's rules beyond RBAC: superadmin accounts stay the superadmins' own.

Who may act within a domain is RBAC's (tests/unit/runtime/test_permission_guard.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from services.identity.domain import access
from services.identity.domain.access import Principal
from services.identity.domain.errors import IdentityError

SYSTEM = Principal("", "", "system", "", system=True)
ROOT = Principal("u-root", "root@x.test", "superadmin", "default")
ADMIN = Principal("u-admin", "admin@x.test", "admin", "default")
USER = Principal("u-user", "user@x.test", "user", "default")
MONITOR = Principal("u-mon", "mon@x.test", "monitor", "default")


def allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except IdentityError as error:
        assert error.code == "identity.auth.forbidden"
        return False
    return True


@pytest.mark.parametrize(
    ("principal", "ok"), [(SYSTEM, True), (ROOT, True), (ADMIN, False), (USER, False)]
)
def test_only_the_system_and_superadmins_pass_require_superadmin(
        principal: Principal, ok: bool) -> None:
    assert allowed(lambda: access.require_superadmin(principal)) is ok


@pytest.mark.parametrize(
    ("principal", "role", "ok"),
    [
        (ROOT, "superadmin", True),
        (ADMIN, "superadmin", False),
        (ADMIN, "admin", True),
        (ADMIN, "user", True),
        (ADMIN, "monitor", True),
    ],
)
def test_only_superadmins_grant_superadmin(principal: Principal, role: str, ok: bool) -> None:
    assert allowed(lambda: access.require_may_grant_role(principal, role)) is ok


@pytest.mark.parametrize(
    ("principal", "target_role", "ok"),
    [
        (ROOT, "superadmin", True),
        (ROOT, "user", True),
        (ADMIN, "user", True),
        (ADMIN, "admin", True),
        (ADMIN, "superadmin", False),
        (USER, "superadmin", False),
        (MONITOR, "user", True),  # RBAC decides; this rule only guards superadmins
    ],
)
def test_only_superadmins_manage_superadmins(principal: Principal, target_role: str,
                                             ok: bool) -> None:
    assert allowed(partial(access.require_may_manage, principal, target_role)) is ok


def test_refusal_names_what_was_required() -> None:
    with pytest.raises(IdentityError) as caught:
        access.require_may_manage(USER, "superadmin")
    assert caught.value.details == {"required": "superadmin"}
