"""Identity contracts: subjects, the message specs, event types and their typed reading."""

from __future__ import annotations

from pydantic import BaseModel

from contracts import specs, subjects
from contracts.envelope import Event

# The payloads are in contracts/identity_requests.py, the event data in identity_events.py, the
# replies in contracts/replies/identity.py; payloads and event data are re-exported here, so
# `contracts.identity` stays the one name to import.
from contracts.identity_events import DomainCreated as DomainCreated
from contracts.identity_events import KeypairActivated as KeypairActivated
from contracts.identity_events import KeypairDeactivated as KeypairDeactivated
from contracts.identity_events import KeypairIssued as KeypairIssued
from contracts.identity_events import KeypairPolicyAssigned as KeypairPolicyAssigned
from contracts.identity_events import KeypairRateLimitChanged as KeypairRateLimitChanged
from contracts.identity_events import KeypairRateLimitSet as KeypairRateLimitSet
from contracts.identity_events import MemberAdded as MemberAdded
from contracts.identity_events import MemberRemoved as MemberRemoved
from contracts.identity_events import PasswordChanged as PasswordChanged
from contracts.identity_events import PasswordChangeRequired as PasswordChangeRequired
from contracts.identity_events import ProjectCreated as ProjectCreated
from contracts.identity_events import UserActivated as UserActivated
from contracts.identity_events import UserCreated as UserCreated
from contracts.identity_events import UserDeactivated as UserDeactivated
from contracts.identity_events import UserPolicyAssigned as UserPolicyAssigned
from contracts.identity_events import UserProfileChanged as UserProfileChanged
from contracts.identity_events import UserRenamed as UserRenamed
from contracts.identity_events import UserRoleChanged as UserRoleChanged
from contracts.identity_events import UserUpdated as UserUpdated
from contracts.identity_requests import AssignKeypairPolicy as AssignKeypairPolicy
from contracts.identity_requests import Bootstrap as Bootstrap
from contracts.identity_requests import CreateDomain as CreateDomain
from contracts.identity_requests import CreateProject as CreateProject
from contracts.identity_requests import CreateUser as CreateUser
from contracts.identity_requests import GetUser as GetUser
from contracts.identity_requests import IssueKeypair as IssueKeypair
from contracts.identity_requests import KeypairRef as KeypairRef
from contracts.identity_requests import KeypairSortKey as KeypairSortKey
from contracts.identity_requests import ListDomains as ListDomains
from contracts.identity_requests import ListKeypairs as ListKeypairs
from contracts.identity_requests import ListProjects as ListProjects
from contracts.identity_requests import ListUsers as ListUsers
from contracts.identity_requests import Login as Login
from contracts.identity_requests import Payload as Payload
from contracts.identity_requests import ProjectMember as ProjectMember
from contracts.identity_requests import Secret as Secret
from contracts.identity_requests import SetKeypairRateLimit as SetKeypairRateLimit
from contracts.identity_requests import Text as Text
from contracts.identity_requests import UpdateUser as UpdateUser
from contracts.identity_requests import UserRef as UserRef
from contracts.identity_requests import UserSortKey as UserSortKey
from contracts.permissions import Needs, Target, rows, scoped, system_only, system_wide
from contracts.rbac import EntityType as E
from contracts.rbac import Operation as O
from contracts.rbac import ScopeType as Sc
from contracts.reading import read_event_data
from contracts.replies import identity as r
from contracts.values import UserRole

SERVICE = "identity"


# ---- event data: contracts/identity_events.py (re-exported) ----------------------------------

EVENT_TYPES: dict[str, tuple[str, str, type[Payload]]] = {
    # type name -> (aggregate token, event token, data model); subject = event(SERVICE, agg, evt)
    "UserCreated": ("user", "created", UserCreated),
    "UserRenamed": ("user", "renamed", UserRenamed),
    "UserProfileChanged": ("user", "profile-changed", UserProfileChanged),
    "UserRoleChanged": ("user", "role-changed", UserRoleChanged),
    "UserPolicyAssigned": ("user", "policy-assigned", UserPolicyAssigned),
    "PasswordChangeRequired": ("user", "password-change-required", PasswordChangeRequired),
    "UserUpdated": ("user", "updated", UserUpdated),
    "UserDeactivated": ("user", "deactivated", UserDeactivated),
    "UserActivated": ("user", "activated", UserActivated),
    "PasswordChanged": ("user", "password-changed", PasswordChanged),
    "KeypairIssued": ("keypair", "issued", KeypairIssued),
    "KeypairActivated": ("keypair", "activated", KeypairActivated),
    "KeypairDeactivated": ("keypair", "deactivated", KeypairDeactivated),
    "KeypairPolicyAssigned": ("keypair", "policy-assigned", KeypairPolicyAssigned),
    "KeypairRateLimitSet": ("keypair", "rate-limit-set", KeypairRateLimitSet),
    "KeypairRateLimitChanged": ("keypair", "rate-limit-changed", KeypairRateLimitChanged),
    "DomainCreated": ("domain", "created", DomainCreated),
    "ProjectCreated": ("project", "created", ProjectCreated),
    "MemberAdded": ("project", "member-added", MemberAdded),
    "MemberRemoved": ("project", "member-removed", MemberRemoved),
}


# No longer published (consumers still meet them in older streams; `typed_events` expands
# them): the bus contract's record of what changed for consumers.
RETIRED_EVENTS = {
    "UserUpdated": "2026-12-02: the specific UserRenamed, UserProfileChanged, UserRoleChanged, "
                   "UserPolicyAssigned, PasswordChangeRequired (project membership: MemberAdded "
                   "/ MemberRemoved, as before)",
    "KeypairRateLimitChanged": "2026-12-02: KeypairRateLimitSet (with the previous limit)",
}

IdentityEvent = (UserCreated | UserRenamed | UserProfileChanged | UserRoleChanged
                 | UserPolicyAssigned | PasswordChangeRequired | UserDeactivated | UserActivated
                 | PasswordChanged | KeypairIssued | KeypairActivated | KeypairDeactivated
                 | KeypairPolicyAssigned | KeypairRateLimitSet | DomainCreated | ProjectCreated
                 | MemberAdded | MemberRemoved)


def event_subject(type_name: str) -> str:
    aggregate, name, _ = EVENT_TYPES[type_name]
    return subjects.event(SERVICE, aggregate, name)


def typed_events(envelope: Event) -> list[IdentityEvent]:
    """The envelope's data as contract models, parsed once: what a consumer's reaction
    receives. A retired event becomes the specific events it stood for; a type this contract
    lacks, none."""
    found = EVENT_TYPES.get(envelope.type)
    if found is None:
        return []
    data = read_event_data(found[2], envelope.data)
    if isinstance(data, UserUpdated):
        return _expand_user_updated(data)
    if isinstance(data, KeypairRateLimitChanged):
        return [KeypairRateLimitSet(access_key=data.access_key, user_id=data.user_id,
                                    rate_limit=data.rate_limit)]
    return [data]  # type: ignore[list-item]


def _expand_user_updated(e: UserUpdated) -> list[IdentityEvent]:
    keys = {"user_id": e.user_id, "email": e.email}
    c = e.changes
    found: list[IdentityEvent] = []
    if "username" in c:
        found.append(UserRenamed(**keys, username=str(c["username"])))
    if "full_name" in c or "description" in c:
        found.append(UserProfileChanged(
            **keys, full_name=None if "full_name" not in c else str(c["full_name"]),
            description=None if "description" not in c else str(c["description"])))
    if "role" in c:
        found.append(UserRoleChanged(**keys, role=UserRole(str(c["role"]))))
    if "resource_policy" in c:
        found.append(UserPolicyAssigned(**keys, resource_policy=str(c["resource_policy"])))
    if "need_password_change" in c:
        found.append(PasswordChangeRequired(**keys, required=bool(c["need_password_change"])))
    return found


class Subjects:
    """Every identity subject, built once."""

    BOOTSTRAP = subjects.command(SERVICE, "system", "bootstrap")
    DOMAIN_CREATE = subjects.command(SERVICE, "domain", "create")
    PROJECT_CREATE = subjects.command(SERVICE, "project", "create")
    PROJECT_ADD_MEMBER = subjects.command(SERVICE, "project", "add-member")
    PROJECT_REMOVE_MEMBER = subjects.command(SERVICE, "project", "remove-member")
    USER_CREATE = subjects.command(SERVICE, "user", "create")
    USER_UPDATE = subjects.command(SERVICE, "user", "update")
    USER_DEACTIVATE = subjects.command(SERVICE, "user", "deactivate")
    USER_ACTIVATE = subjects.command(SERVICE, "user", "activate")
    KEYPAIR_ISSUE = subjects.command(SERVICE, "keypair", "issue")
    KEYPAIR_ACTIVATE = subjects.command(SERVICE, "keypair", "activate")
    KEYPAIR_DEACTIVATE = subjects.command(SERVICE, "keypair", "deactivate")
    KEYPAIR_ASSIGN_POLICY = subjects.command(SERVICE, "keypair", "assign-policy")
    KEYPAIR_SET_RATE_LIMIT = subjects.command(SERVICE, "keypair", "set-rate-limit")

    USER_GET = subjects.query(SERVICE, "users", "get")
    USER_LIST = subjects.query(SERVICE, "users", "list")
    KEYPAIR_LIST = subjects.query(SERVICE, "keypairs", "list")
    DOMAIN_LIST = subjects.query(SERVICE, "domains", "list")
    PROJECT_LIST = subjects.query(SERVICE, "projects", "list")
    # Return secrets: NATS permissions let only the gateway's user publish these two.
    KEYPAIR_RESOLVE = subjects.query(SERVICE, "keypairs", "resolve")
    LOGIN = subjects.query(SERVICE, "auth", "login")
    # Proofs: a user token for a keypair the gateway authenticated (the gateway's system
    # proof only), and a bus user's login (email + password → a token; no secret returned).
    TOKEN_ISSUE = subjects.query(SERVICE, "auth", "token")
    BUS_LOGIN = subjects.query(SERVICE, "auth", "bus-login")


# ---- one declaration per message (contracts/specs.py); the tables below are views of it ------

# What each command needs (contracts/permissions.py). Changing a keypair's policy or rate limit,
# issuing or re-activating one, and activating a user are an administrator's acts: checked at
# the owner's domain, so a user's own role (which holds keypair and user rights at the user's
# own scope) cannot raise its own limits or undo a deactivation.
# What each query needs: `read` at the scope of what it answers. Lists answer only the rows
# the caller may read (a user's own role reads its account and keypairs; a domain admin's role
# reads its domain). The two secret-returning queries establish who the actor is, so they come
# only from the gateway (its NATS user, too).
GATEWAY = "gateway"
S = Subjects
_USER_RULES = ("user.email_empty", "user.email_invalid", "user.email_too_long",
               "user.username_empty", "user.username_invalid", "user.username_too_long")
_USER = ("auth.unauthenticated", "user.not_found")
_KEYPAIR = ("auth.unauthenticated", "keypair.not_found", "keypair.orphaned",
            "keypair.user_inactive")
_MEMBER = ("auth.unauthenticated", "project.not_found", "user.not_found",
           "project.other_domain")
_PROJECT = scoped(E.PROJECT, O.UPDATE, Sc.PROJECT, Target.PROJECT, "project_id")
_KP_ADMIN = scoped(E.KEYPAIR, O.UPDATE, Sc.DOMAIN, Target.KEYPAIR, "access_key")

SPECS: dict[str, specs.MessageSpec] = specs.index([
    specs.command(S.BOOTSTRAP, Bootstrap, system_only(E.USER, O.CREATE),
                  "Create the first superadmin and the default domain (once).",
                  ("auth.forbidden", "system.already_bootstrapped", *_USER_RULES),
                  reply=r.Credentials),
    specs.command(S.DOMAIN_CREATE, CreateDomain, system_wide(E.DOMAIN, O.CREATE),
                  "Create a domain.", ("auth.unauthenticated", "domain.name_taken"),
                  reply=r.CreatedDomain),
    specs.command(S.PROJECT_CREATE, CreateProject,
                  scoped(E.PROJECT, O.CREATE, Sc.DOMAIN, Target.DOMAIN, "domain"),
                  "Create a project in a domain.",
                  ("auth.unauthenticated", "domain.not_found", "project.name_taken",
                   "policy.unknown"), reply=r.CreatedProject),
    specs.command(S.PROJECT_ADD_MEMBER, ProjectMember, _PROJECT,
                  "Add a user to a project.", _MEMBER, reply=r.Membership),
    specs.command(S.PROJECT_REMOVE_MEMBER, ProjectMember, _PROJECT,
                  "Remove a user from a project.", _MEMBER, reply=r.Membership),
    specs.command(S.USER_CREATE, CreateUser,
                  scoped(E.USER, O.CREATE, Sc.DOMAIN, Target.DOMAIN, "domain"),
                  "Create a user (and its first keypair).",
                  ("auth.unauthenticated", "user.email_taken", "user.username_taken",
                   "domain.not_found", "project.not_found", "project.other_domain",
                   "policy.unknown", *_USER_RULES), reply=r.Credentials),
    specs.command(S.USER_UPDATE, UpdateUser,
                  scoped(E.USER, O.UPDATE, Sc.USER, Target.USER, "email"),
                  "Change a user's fields (status, role, policy and projects: admins only).",
                  (*_USER, "user.self_demotion", "user.username_taken", "project.not_found",
                   "project.other_domain", "policy.unknown", *_USER_RULES), reply=r.UserSummary),
    specs.command(S.USER_DEACTIVATE, UserRef,
                  scoped(E.USER, O.SOFT_DELETE, Sc.USER, Target.USER, "email"),
                  "Deactivate a user and all its keypairs.",
                  (*_USER, "user.self_deactivation"), reply=r.UserSummary),
    specs.command(S.USER_ACTIVATE, UserRef,
                  scoped(E.USER, O.UPDATE, Sc.DOMAIN, Target.USER, "email"),
                  "Re-activate a user.", _USER, reply=r.UserSummary),
    specs.command(S.KEYPAIR_ISSUE, IssueKeypair,
                  scoped(E.KEYPAIR, O.CREATE, Sc.DOMAIN, Target.USER, "email"),
                  "Issue a new keypair to a user (the secret is in the reply only).",
                  (*_USER, "policy.unknown"), reply=r.Credentials),
    specs.command(S.KEYPAIR_ACTIVATE, KeypairRef, _KP_ADMIN, "Re-activate a keypair.",
                  _KEYPAIR, reply=r.KeypairSummary),
    specs.command(S.KEYPAIR_DEACTIVATE, KeypairRef,
                  scoped(E.KEYPAIR, O.SOFT_DELETE, Sc.USER, Target.KEYPAIR, "access_key"),
                  "Deactivate a keypair.", _KEYPAIR, reply=r.KeypairSummary),
    specs.command(S.KEYPAIR_ASSIGN_POLICY, AssignKeypairPolicy, _KP_ADMIN,
                  "Assign a keypair resource policy to a keypair.",
                  (*_KEYPAIR, "policy.unknown"), reply=r.KeypairSummary),
    specs.command(S.KEYPAIR_SET_RATE_LIMIT, SetKeypairRateLimit, _KP_ADMIN,
                  "Set a keypair's request rate limit.", _KEYPAIR, reply=r.KeypairSummary),
    specs.query(S.USER_GET, GetUser,
                scoped(E.USER, O.READ, Sc.USER, Target.USER, "email", "user_id"),
                "One user, with the keypairs the caller may read.", _USER, reply=r.UserDetail),
    specs.query(S.USER_LIST, ListUsers, rows(E.USER, O.READ, Sc.USER),
                "The users the caller may read, filtered, sorted and paged.", reply=r.UserPage),
    specs.query(S.KEYPAIR_LIST, ListKeypairs, rows(E.KEYPAIR, O.READ, Sc.USER),
                "The keypairs the caller may read, filtered, sorted and paged.",
                reply=r.KeypairPage),
    specs.query(S.DOMAIN_LIST, ListDomains, rows(E.DOMAIN, O.READ, Sc.DOMAIN),
                "The domains the caller may read.", reply=r.DomainList),
    specs.query(S.PROJECT_LIST, ListProjects, rows(E.PROJECT, O.READ, Sc.PROJECT),
                "The projects the caller may read.", reply=r.ProjectList),
    specs.query(S.KEYPAIR_RESOLVE, KeypairRef, system_only(E.KEYPAIR, O.READ, GATEWAY),
                "A keypair's secret and owner, to verify a request signature (gateway only).",
                ("keypair.not_found", "keypair.inactive"), reply=r.ResolvedKeypair),
    specs.query(S.LOGIN, Login, system_only(E.USER, O.READ, GATEWAY),
                "Check a user's password and answer its keypair (gateway only).",
                ("auth.invalid_credentials", "auth.no_active_keypair"), reply=r.LoginCredentials),
    specs.query(S.TOKEN_ISSUE, KeypairRef, system_only(E.KEYPAIR, O.READ, GATEWAY),
                "An actor proof for a keypair the gateway authenticated (gateway only).",
                ("keypair.inactive", "auth.signing_unavailable"), reply=r.ProofToken),
    specs.query(S.BUS_LOGIN, Login, None,
                "A bus user's login: email and password give an actor proof (no proof asked).",
                ("auth.invalid_credentials", "auth.no_active_keypair",
                 "auth.signing_unavailable"), public=True, reply=r.ProofToken),
    *(specs.event(event_subject(name), name, model, summary)
      for name, model, summary in (
          ("UserCreated", UserCreated, "A user was created."),
          ("UserRenamed", UserRenamed, "A user's username changed."),
          ("UserProfileChanged", UserProfileChanged,
           "A user's full name or description changed (both new values)."),
          ("UserRoleChanged", UserRoleChanged, "A user's role changed."),
          ("UserPolicyAssigned", UserPolicyAssigned, "A user's resource policy changed."),
          ("PasswordChangeRequired", PasswordChangeRequired,
           "Whether a user must change the password at the next login changed."),
          ("UserUpdated", UserUpdated, "Retired (older streams only): a user's fields "
           "changed (`changes`); now the five specific user events."),
          ("UserDeactivated", UserDeactivated, "A user and its keypairs were deactivated."),
          ("UserActivated", UserActivated, "A user was re-activated."),
          ("PasswordChanged", PasswordChanged, "A user's password changed."),
          ("KeypairIssued", KeypairIssued, "A keypair was issued (no secret)."),
          ("KeypairActivated", KeypairActivated, "A keypair was re-activated."),
          ("KeypairDeactivated", KeypairDeactivated, "A keypair was deactivated."),
          ("KeypairPolicyAssigned", KeypairPolicyAssigned, "A keypair's policy changed."),
          ("KeypairRateLimitSet", KeypairRateLimitSet, "A keypair's rate limit was set."),
          ("KeypairRateLimitChanged", KeypairRateLimitChanged,
           "Retired (older streams only): now KeypairRateLimitSet."),
          ("DomainCreated", DomainCreated, "A domain was created."),
          ("ProjectCreated", ProjectCreated, "A project was created."),
          ("MemberAdded", MemberAdded, "A user joined a project."),
          ("MemberRemoved", MemberRemoved, "A user left a project."),
      )),
])

COMMAND_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.COMMANDS)
QUERY_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.QUERIES)
COMMAND_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.COMMANDS)
QUERY_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.QUERIES)

# `user.update` of these fields is an administrator's act too: it needs `user:update` at the
# user's domain besides the declared need (so no one promotes or re-policies themself).
PRIVILEGED_USER_FIELDS = ("status", "role", "resource_policy", "projects")
PRIVILEGED_USER_UPDATE = scoped(E.USER, O.UPDATE, Sc.DOMAIN, Target.USER, "email")

# Asked without a proof: the bus login hands one out (it checks the password itself).
PUBLIC_QUERIES = frozenset(s for s, spec in SPECS.items() if spec.public)
# The keypairs shown inside `users.get`: each also needs keypair:read at its owner's scope.
KEYPAIR_ROWS = QUERY_NEEDS[Subjects.KEYPAIR_LIST]
