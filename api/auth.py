"""Identities: API keys and EIP-712 signed requests, both bound to an on-chain account and role.

* **API keys** — ``Authorization: Bearer clk_<key id>_<secret>``. Issued by
  ``carbonledger admin issue-key``; only SHA-256 of the secret is stored; each key is bound to
  one account of an admitted organisation and that organisation's role; rotation issues a new
  key and revokes the old one; a revoked key is refused at once.
* **Signed requests** — headers ``X-CL-Account``, ``X-CL-Timestamp`` (UTC s), ``X-CL-Nonce``
  (0x bytes32) and ``X-CL-Signature`` (65-byte EIP-712 signature of
  ``ApiRequest(string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce)`` in the
  domain {name "CarbonLedger API", version "1", chainId}; typed data, signing and the signature
  check in :mod:`ledger.crypto.requests`, shared with the clients); the timestamp must be within
  :data:`MAX_SKEW_S` of the server's clock and each (account, nonce) is accepted once.

Either way the account must, at the moment of the request, belong to an *active* organisation
with that role in ParticipantRegistry (a suspended participant is refused even with a valid key).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from fastapi import Depends, Request
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.problems import Problem
from api.store import ApiKey, RequestNonce
from ledger.contracts.deployment import Deployment
from ledger.crypto.requests import MalformedSignedRequest, verify_request

KEY_PREFIX = "clk"
MAX_SKEW_S = 300
ROLE_NAMES = ("REGULATOR_ROLE", "ENTERPRISE_ROLE", "VERIFIER_ROLE", "ORACLE_ROLE", "EXCHANGE_ROLE",
              "REGISTRY_ROLE", "PROJECT_OWNER_ROLE", "SETTLEMENT_BANK_ROLE", "CALIBRATION_BODY_ROLE")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the on-chain account, its organisation, its role, and how it proved it."""

    account: str
    org_id: str       # 0x bytes32
    role: str         # e.g. "ENTERPRISE_ROLE"
    via: str          # "api-key:<id>" or "signature"

    @property
    def scope(self) -> str:
        """Key under which idempotency records of this caller are kept."""
        return self.via if self.via != "signature" else f"account:{self.account}"


class AuthError(ValueError):
    """An API key could not be issued, rotated or revoked (the message says why)."""


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def role_of(dep: Deployment, account: str) -> tuple[str, str] | None:
    """(org id, role name) of ``account`` if its organisation is active, else None."""
    pr = dep.participants
    org = pr.orgOf(account)
    if org == bytes(32):
        return None
    o = pr.organisation(org)
    if o.status != 1:
        return None
    for name in ROLE_NAMES:
        if dep.role(name) == o.role:
            return "0x" + org.hex(), name
    return None


def issue_key(engine: Engine, dep: Deployment, org_id: bytes, role: str, account: str | None = None, label: str = "") -> str:
    """Issue an API key for an account of the organisation ``org_id`` with ``role``.

    Returns the full key (shown once; only its hash is kept).

    Raises:
        AuthError: unknown role, organisation not active with that role, or account not in it.
    """
    if role not in ROLE_NAMES:
        raise AuthError(f"role must be one of {ROLE_NAMES}, got {role!r}")
    accounts = list(dep.participants.accountsOf(org_id))
    if not accounts:
        raise AuthError(f"organisation 0x{org_id.hex()} is not admitted")
    acct = to_checksum_address(account) if account else accounts[0]
    if acct not in accounts:
        raise AuthError(f"account {acct} does not belong to organisation 0x{org_id.hex()}")
    got = role_of(dep, acct)
    if got is None or got[1] != role:
        raise AuthError(f"account {acct} is not an active {role} participant on-chain (has {got and got[1]})")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with Session(engine) as s, s.begin():
        s.add(ApiKey(key_id=key_id, secret_sha256=_sha(secret), org_id="0x" + org_id.hex(), account=acct, role=role,
                     label=label, created_at=int(time.time())))
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def revoke_key(engine: Engine, key_id: str) -> None:
    """Revoke a key at once. Raises AuthError if unknown or already revoked."""
    with Session(engine) as s, s.begin():
        k = s.get(ApiKey, key_id)
        if k is None:
            raise AuthError(f"no API key {key_id}")
        if k.revoked_at is not None:
            raise AuthError(f"API key {key_id} is already revoked")
        k.revoked_at = int(time.time())


def rotate_key(engine: Engine, dep: Deployment, key_id: str) -> str:
    """Issue a new key with the same binding and revoke ``key_id``; returns the new full key."""
    with Session(engine) as s:
        k = s.get(ApiKey, key_id)
        if k is None or k.revoked_at is not None:
            raise AuthError(f"no active API key {key_id}")
        org, role, acct, label = bytes.fromhex(k.org_id[2:]), k.role, k.account, k.label
    new = issue_key(engine, dep, org, role, acct, label)
    with Session(engine) as s, s.begin():
        old = s.get(ApiKey, key_id)
        assert old is not None
        old.revoked_at, old.replaced_by = int(time.time()), new.split("_")[1]
    return new


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key (hashes only)."""
    with Session(engine) as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the caller's :class:`Principal`, or a 401/403 problem."""
    ctx = request.app.state.ctx
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return _from_key(ctx, auth[7:].strip())
    if "x-cl-signature" in request.headers:
        return _from_signature(ctx, request, await request.body())
    raise Problem("unauthenticated", "send `Authorization: Bearer <API key>` or an EIP-712 signed request (X-CL-* headers)")


async def authenticate_retry(request: Request) -> Principal:
    """:func:`authenticate` for a retry under an ``Idempotency-Key`` that the API already holds
    (api/idempotency.py: a stored answer is replayed, or a dead request's key is taken over).

    Same checks (API key secret, or EIP-712 signature and clock skew; role re-checked on-chain),
    except that a signed request's nonce is not recorded again: a client that re-sends the very
    same signed request after a lost answer must get that answer, and the idempotency record —
    not the nonce — already guarantees that the operation runs at most once.

    Raises:
        Problem: ``unauthenticated``, ``key-revoked``, ``stale-request``, ``participant-not-active``.
    """
    ctx = request.app.state.ctx
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return _from_key(ctx, auth[7:].strip())
    if "x-cl-signature" in request.headers:
        return _from_signature(ctx, request, await request.body(), record_nonce=False)
    raise Problem("unauthenticated", "send `Authorization: Bearer <API key>` or an EIP-712 signed request (X-CL-* headers)")


def _from_key(ctx: Any, token: str) -> Principal:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Problem("unauthenticated", "malformed API key")
    return principal_from_key_digest(ctx, parts[1], _sha(parts[2]))


def key_digest(token: str) -> tuple[str, str]:
    """``(key id, SHA-256 of the secret)`` of an API key — what a portal session keeps instead of
    the key itself. Raises an ``unauthenticated`` problem if the key is malformed."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Problem("unauthenticated", "malformed API key")
    return parts[1], _sha(parts[2])


def principal_from_key_digest(ctx: Any, key_id: str, secret_sha256: str) -> Principal:
    """The principal of API key ``key_id`` whose secret hashes to ``secret_sha256``, checked like
    the Bearer path (unknown, revoked, role no longer held on-chain).

    Raises:
        Problem: ``unauthenticated``, ``key-revoked`` or ``participant-not-active``.
    """
    with Session(ctx.api_store) as s:
        k = s.get(ApiKey, key_id)
        if k is None or not hmac.compare_digest(k.secret_sha256, str(secret_sha256)):
            raise Problem("unauthenticated", "unknown API key")
        if k.revoked_at is not None:
            raise Problem("key-revoked", f"API key {k.key_id} was revoked" + (f"; use {k.replaced_by}" if k.replaced_by else ""))
        account, role, key_id = k.account, k.role, k.key_id
    got = role_of(ctx.deployment, account)
    if got is None or got[1] != role:
        raise Problem("participant-not-active", f"{account} is not an active {role} participant on-chain")
    return Principal(account, got[0], role, f"api-key:{key_id}")


def _from_signature(ctx: Any, request: Request, body: bytes, *, record_nonce: bool = True) -> Principal:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        signed = verify_request(request.headers, ctx.deployment.client.chain_id, request.method, path, body)
    except MalformedSignedRequest as exc:
        raise Problem("unauthenticated", str(exc)) from None
    account, ts, nonce = signed.account, signed.timestamp, signed.nonce
    now = int(time.time())
    if abs(now - ts) > MAX_SKEW_S:
        raise Problem("stale-request", f"timestamp {ts} is more than {MAX_SKEW_S} s from the server clock {now}")
    if record_nonce:
        try:
            with Session(ctx.api_store) as s, s.begin():
                s.execute(delete(RequestNonce).where(RequestNonce.timestamp < now - 2 * MAX_SKEW_S))
                s.add(RequestNonce(account=account, nonce="0x" + nonce.hex(), timestamp=ts))
        except IntegrityError:
            raise Problem("replayed-request", f"nonce 0x{nonce.hex()} of {account} was already used") from None
    got = role_of(ctx.deployment, account)
    if got is None:
        raise Problem("participant-not-active", f"{account} is not an active participant on-chain")
    return Principal(account, got[0], got[1], "signature")


def require_role(*roles: str) -> Any:
    """Dependency factory: the principal, which must hold one of ``roles``."""
    async def dep(principal: Principal = Depends(authenticate)) -> Principal:
        if principal.role not in roles:
            raise Problem("wrong-role", f"this operation needs {' or '.join(roles)}; {principal.account} is {principal.role}")
        return principal
    return dep
