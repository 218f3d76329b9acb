"""Handlers of the invitation messages: send, accept, reject, cancel, list."""

from __future__ import annotations

from typing import Any

from contracts import storage as c
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.storage.handlers.deps import StorageDeps

S = c.Subjects
STATE = c.InvitationState


def send_invitations(deps: StorageDeps, ctx: MessageContext, p: c.SendInvitations
                     ) -> dict[str, Any]:
    return deps.app.send_invitations(ctx.message_id, ctx.actor, p)


def accept_invitation(deps: StorageDeps, ctx: MessageContext, p: c.InvitationRef
                      ) -> dict[str, Any]:
    return deps.app.decide_invitation(ctx.message_id, ctx.actor, p.invitation_id,
                                      STATE.ACCEPTED.value)


def reject_invitation(deps: StorageDeps, ctx: MessageContext, p: c.InvitationRef
                      ) -> dict[str, Any]:
    return deps.app.decide_invitation(ctx.message_id, ctx.actor, p.invitation_id,
                                      STATE.REJECTED.value)


def cancel_invitation(deps: StorageDeps, ctx: MessageContext, p: c.InvitationRef
                      ) -> dict[str, Any]:
    return deps.app.decide_invitation(ctx.message_id, ctx.actor, p.invitation_id,
                                      STATE.CANCELED.value)


def list_invitations(deps: StorageDeps, ctx: MessageContext, q: c.ListInvitations
                     ) -> dict[str, Any]:
    return deps.queries.list_invitations(ctx.actor, q)


HANDLERS: dict[str, SpecHandler[StorageDeps]] = {
    S.INVITATION_SEND: send_invitations,
    S.INVITATION_ACCEPT: accept_invitation,
    S.INVITATION_REJECT: reject_invitation,
    S.INVITATION_CANCEL: cancel_invitation,
    S.INVITATION_LIST: list_invitations,
}
