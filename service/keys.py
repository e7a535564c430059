"""API keys and roles.

A key is ``vr_<key id>_<secret>``. Only an Argon2id hash of the secret is stored (argon2-cffi);
the key id, derived from the secret, finds the row without scanning. Verifying Argon2 costs
tens of milliseconds by design, so a verified key is remembered in memory by the SHA-256 of
the whole key for a short while; a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from service.db import api_keys, review_sessions
from service.errors import AuthenticationError, KeyNotFoundError

_PREFIX = "vr"


class Role(StrEnum):
    ANALYST = "analyst"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (also the user id answers are recorded under) and role."""

    key_id: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def _key_id(secret: str) -> str:
    return "k" + hashlib.sha256(secret.encode()).hexdigest()[:16]


class KeyStore:
    def __init__(self, engine: Engine, cache_seconds: float = 60.0) -> None:
        self._engine = engine
        self._hasher = PasswordHasher()
        self._cache_seconds = cache_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def create(self, role: Role, name: str) -> tuple[str, StoredKey]:
        """A new key: the full key (shown once, never stored) and its stored record."""
        secret = secrets.token_urlsafe(32)
        key_id = _key_id(secret)
        stored = StoredKey(key_id, name, role, datetime.now(UTC), None)
        with self._engine.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    id=key_id,
                    name=name,
                    role=role.value,
                    secret_hash=self._hasher.hash(secret),
                    created_at=stored.created_at,
                )
            )
        return f"{_PREFIX}_{key_id}_{secret}", stored

    def authenticate(self, key: str) -> Principal:
        fingerprint = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._verified.get(fingerprint)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _PREFIX or not key_id or not secret or _key_id(secret) != key_id:
            raise AuthenticationError("the API key is malformed; keys look like vr_k…_…")
        with self._engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            raise AuthenticationError("the API key is unknown or revoked")
        try:
            self._hasher.verify(row.secret_hash, secret)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthenticationError("the API key is unknown or revoked") from exc
        principal = Principal(key_id, row.name, Role(row.role))
        with self._lock:
            self._verified[fingerprint] = (principal, now)
        return principal

    def list(self) -> list[StoredKey]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [_stored(row) for row in rows]

    def revoke(self, key_id: str) -> StoredKey:
        with self._engine.begin() as connection:
            connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise KeyNotFoundError(f"no API key with id {key_id}")
        with self._lock:
            self._verified = {
                fp: entry for fp, entry in self._verified.items() if entry[0].key_id != key_id
            }
        return _stored(row)


def _stored(row: object) -> StoredKey:
    created_at = row.created_at  # type: ignore[attr-defined]
    revoked_at = row.revoked_at  # type: ignore[attr-defined]
    return StoredKey(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        created_at=created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC),
        revoked_at=(
            None
            if revoked_at is None
            else (revoked_at if revoked_at.tzinfo else revoked_at.replace(tzinfo=UTC))
        ),
    )


class SessionStore:
    """The review pages' browser sessions. ``open`` returns a random token for the cookie and
    stores only its hash; ``principal`` answers for a live session whose key is still active;
    ``close`` ends one (logout). A revoked key ends its sessions with it."""

    def __init__(self, engine: Engine, lifetime: timedelta = timedelta(hours=8)) -> None:
        self._engine = engine
        self._lifetime = lifetime

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            connection.execute(
                insert(review_sessions).values(
                    id=self._hash(token),
                    key_id=principal.key_id,
                    created_at=now,
                    expires_at=now + self._lifetime,
                )
            )
        return token

    def principal(self, token: str) -> Principal:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(review_sessions, api_keys.c.name, api_keys.c.role, api_keys.c.revoked_at)
                .join(api_keys, api_keys.c.id == review_sessions.c.key_id)
                .where(review_sessions.c.id == self._hash(token))
            ).first()
        if row is None or row.closed_at is not None or row.revoked_at is not None:
            raise AuthenticationError("the review session ended; log in again")
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            raise AuthenticationError("the review session expired; log in again")
        return Principal(row.key_id, row.name, Role(row.role))

    def close(self, token: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(review_sessions)
                .where(
                    review_sessions.c.id == self._hash(token), review_sessions.c.closed_at.is_(None)
                )
                .values(closed_at=datetime.now(UTC))
            )
