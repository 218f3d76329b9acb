"""Permission evaluation: active roles only, assignments, scope inheritance, delegates."""

from __future__ import annotations

from services.runtime.grants import GrantIndex

D, P, Q, U, V = "dom-1", "proj-1", "proj-2", "user-1", "user-2"


def index() -> GrantIndex:
    ix = GrantIndex()
    ix.set_project(P, D)
    ix.set_project(Q, D)
    ix.set_user(U, D, superadmin=False)
    ix.set_user(V, D, superadmin=False)
    ix.set_membership(U, P, True)
    ix.add_role("r")
    ix.assign("r", U, True)
    return ix


def test_a_direct_grant_allows_that_operation_only() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("project", P, "vfolder", "create"))
    assert ix.check(U, "create", "vfolder", "project", P)
    assert not ix.check(U, "read", "vfolder", "project", P)
    assert not ix.check(U, "create", "session", "project", P)
    assert not ix.check(U, "create", "vfolder", "project", Q)
    assert not ix.check(V, "create", "vfolder", "project", P)  # not assigned


def test_a_domain_grant_covers_its_projects_and_users() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("domain", D, "session", "read"))
    assert ix.check(U, "read", "session", "domain", D)
    assert ix.check(U, "read", "session", "project", Q)
    assert ix.check(U, "read", "session", "user", V)
    assert not ix.check(U, "read", "session", "domain", "other")


def test_a_project_grant_covers_its_members_own_entities_only() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("project", P, "vfolder", "read"))
    assert ix.check(U, "read", "vfolder", "user", U)  # U is a member of P
    assert not ix.check(U, "read", "vfolder", "user", V)  # V is not
    ix.set_membership(V, P, True)
    assert ix.check(U, "read", "vfolder", "user", V)
    ix.set_membership(V, P, False)
    assert not ix.check(U, "read", "vfolder", "user", V)


def test_narrower_grants_never_cover_broader_scopes() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("user", U, "session", "read"))
    assert ix.check(U, "read", "session", "user", U)
    assert not ix.check(U, "read", "session", "project", P)
    assert not ix.check(U, "read", "session", "domain", D)


def test_deactivation_revokes_and_activation_restores() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("domain", D, "image", "soft-delete"))
    assert ix.check(U, "soft-delete", "image", "domain", D)
    ix.set_active("r", False)
    assert not ix.check(U, "soft-delete", "image", "domain", D)
    ix.add_permission("r", "p2", ("domain", D, "image", "read"))  # added while inactive
    assert not ix.check(U, "read", "image", "domain", D)
    ix.set_active("r", True)
    assert ix.check(U, "soft-delete", "image", "domain", D)
    assert ix.check(U, "read", "image", "domain", D)


def test_two_roles_granting_the_same_thing_count_separately() -> None:
    ix = index()
    ix.add_role("s")
    ix.assign("s", U, True)
    ix.add_permission("r", "p1", ("domain", D, "session", "read"))
    ix.add_permission("s", "p2", ("domain", D, "session", "read"))
    ix.remove_permission("r", "p1")
    assert ix.check(U, "read", "session", "domain", D)
    ix.assign("s", U, False)
    assert not ix.check(U, "read", "session", "domain", D)


def test_delegate_all_covers_every_delegate_but_no_direct_operation() -> None:
    ix = index()
    ix.add_permission("r", "p1", ("domain", D, "session", "delegate-all"))
    assert ix.check(U, "delegate-read", "session", "project", P)
    assert ix.check(U, "delegate-hard-delete", "session", "domain", D)
    assert not ix.check(U, "read", "session", "domain", D)


def test_superadmins_bypass_and_purged_roles_grant_nothing() -> None:
    ix = index()
    ix.set_user(V, D, superadmin=True)
    assert ix.check(V, "hard-delete", "agent", "domain", "anything")
    ix.add_permission("r", "p1", ("domain", D, "session", "read"))
    ix.drop_role("r")
    assert not ix.check(U, "read", "session", "domain", D)
    assert ix.by_user[U] == {}
