"""Records of identities: users, their tokens, and what the store keeps of a sign-in session.

A token's secret is never stored (only its SHA-256) and never shown again after it is made;
a `Token` here is what can be listed: its id, owner, label and dates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from loopline.core.identity import Kind, Role

SESSION_TTL = timedelta(hours=12)  # how long a UI sign-in lasts (never beyond its token's expiry)


def secret_hash(secret: str) -> str:
    """What the store keeps of a token or a session id: its SHA-256, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    kind: Kind = "person"
    active: bool = True
    created_at: datetime | None = None


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """ "active", "expired" or "revoked" at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Session:
    user: str
    token_id: str  # the token signed in with: revoking it ends the session
    created_at: datetime
    expires_at: datetime
