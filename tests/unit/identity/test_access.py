"""Who may do what in identity: a pure policy over roles and domains."""

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
OTHER_ADMIN = Principal("u-admin2", "admin2@x.test", "admin", "research")
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
    ("principal", "domain", "ok"),
    [
        (SYSTEM, "default", True),
        (ROOT, "default", True),
        (ROOT, "research", True),
        (ADMIN, "default", True),
        (ADMIN, "research", False),
        (OTHER_ADMIN, "default", False),
        (USER, "default", False),
        (MONITOR, "default", False),
    ],
)
def test_require_admin_of(principal: Principal, domain: str, ok: bool) -> None:
    assert allowed(lambda: access.require_admin_of(principal, domain)) is ok


@pytest.mark.parametrize(
    ("principal", "ok"), [(SYSTEM, True), (ROOT, True), (ADMIN, False), (USER, False)]
)
def test_require_superadmin(principal: Principal, ok: bool) -> None:
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
    ("principal", "target_role", "target_domain", "ok"),
    [
        (ROOT, "superadmin", "default", True),
        (ROOT, "user", "research", True),
        (ADMIN, "user", "default", True),
        (ADMIN, "admin", "default", True),
        (ADMIN, "superadmin", "default", False),
        (ADMIN, "user", "research", False),
        (USER, "user", "default", False),
    ],
)
def test_require_may_manage_user(principal: Principal, target_role: str, target_domain: str,
                                 ok: bool) -> None:
    check = partial(access.require_may_manage_user, principal, target_role, target_domain)
    assert allowed(check) is ok


def test_refusal_names_what_was_required() -> None:
    with pytest.raises(IdentityError) as caught:
        access.require_admin_of(USER, "default")
    assert caught.value.details == {"required": "admin", "domain": "default"}
