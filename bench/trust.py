"""One trust setup per benchmark run: a stack id and one Ed25519 key that every component
(and identity) signs with, trusted under every component's name. Importing it sets them in
this process's environment (for its BusClients); `env()` gives them to child processes."""

from __future__ import annotations

import os

from services.runtime.proofs import format_keys, new_private_key, public_key_of

SIGNERS = ("identity", "gateway", "bootstrap", "scheduler", "quota", "rbac", "agent")
_KEY = new_private_key()
TRUST = {"BAIKAL_STACK_ID": "bench-stack", "BAIKAL_SIGNING_KEY": _KEY,
         "BAIKAL_TRUSTED_KEYS": format_keys(dict.fromkeys(SIGNERS, public_key_of(_KEY)))}
os.environ.update(TRUST)


def env() -> dict[str, str]:
    return dict(TRUST)
