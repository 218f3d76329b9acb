"""What identity's handlers are given: the application, the read model, the guard, the signer."""

from __future__ import annotations

from dataclasses import dataclass

from services.identity.app import IdentityApplication
from services.identity.views import IdentityView
from services.runtime.permissions import PermissionGuard
from services.runtime.proofs import ProofSigner


@dataclass(frozen=True)
class IdentityDeps:
    app: IdentityApplication
    view: IdentityView
    guard: PermissionGuard
    signer: ProofSigner | None = None  # none: the token queries answer signing_unavailable
