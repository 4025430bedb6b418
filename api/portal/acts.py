"""A portal form's act, done once: the form carries an idempotency key (a random token issued with
the page), kept in the API store's ``idempotency`` table beside the API's ``Idempotency-Key``
records, under the caller's scope (:attr:`api.auth.Principal.scope`).

The same key and form again (a double click, a reload that re-posts, a retry after a lost answer)
gets the stored outcome and sends nothing; the same key with another form is refused; a key whose
act is still running is refused as in progress. While the act runs the chain client journals its
transactions under the key's tag (:func:`api.idempotency.tag`), as the API does. A failed act
releases the key when nothing was journalled (the retry is a first attempt); otherwise the key
keeps the failure (the journal holds the transactions for ``carbonledger`` recovery).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.idempotency import tag
from api.store import IdempotencyRecord
from ledger.chain.client import ChainClient, journal_tag

#: Status code stored for a portal act that succeeded (the portal answers it with a 303 redirect).
DONE = 303
#: Lease of a running act, ms: a portal act is one or two transactions.
LEASE_MS = 120_000


class ActRefused(ValueError):
    """The key cannot be used for this act (the message says why: another form, in progress)."""


@dataclass(frozen=True)
class Outcome:
    """The act's message, and whether it was replayed from the store (nothing sent this time)."""

    message: str
    replayed: bool


def new_key() -> str:
    """A fresh idempotency key for a form (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def once(store: Engine, client: ChainClient, principal: Principal, key: str, where: str, form: str,
         act: Callable[[], str]) -> Outcome:
    """Run ``act`` (which returns the success message) once for (caller, ``key``).

    Args:
        where: the act's route (``POST /portal/…``); form: the act's canonical input (hashed).

    Raises:
        ActRefused: empty or over-long key, the key was used for another act, or the act is running.
        Whatever ``act`` raises (the key is released, or kept failed if transactions were journalled).
    """
    if not key or len(key) > 200:
        raise ActRefused("the form carries no valid idempotency key; reload the page")
    scope, digest, token = principal.scope, hashlib.sha256(form.encode()).hexdigest(), secrets.token_hex(16)
    now_ms = int(time.time() * 1000)
    with Session(store) as s:
        rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)).first()
        if rec is not None:
            if rec.method_path != where or rec.body_sha256 != digest:
                raise ActRefused("this form was already used for another action; reload the page")
            if rec.status_code == DONE:
                return Outcome(rec.response or "", True)
            if rec.status_code is not None:
                raise ActRefused(f"this form's action failed earlier: {rec.response}; reload the page")
            raise ActRefused("this action is in progress; reload the page in a moment")
    try:
        with Session(store) as s, s.begin():
            s.add(IdempotencyRecord(principal=scope, key=key, method_path=where, body_sha256=digest, created_at=now_ms // 1000,
                                    owner=token, lease_until_ms=now_ms + LEASE_MS))
    except IntegrityError:
        raise ActRefused("this action is in progress; reload the page in a moment") from None
    reset = journal_tag.set(tag(scope, key))
    try:
        message = act()
    except Exception as exc:
        with Session(store) as s, s.begin():
            if client.tagged_transactions(tag(scope, key)):
                rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key,
                                                                IdempotencyRecord.owner == token)).first()
                if rec is not None:
                    rec.status_code, rec.response, rec.lease_until_ms = 409, str(exc)[:1000], None
            else:
                s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key,
                                                          IdempotencyRecord.owner == token))
        raise
    finally:
        journal_tag.reset(reset)
    with Session(store) as s, s.begin():
        rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key,
                                                        IdempotencyRecord.owner == token)).first()
        if rec is not None:
            rec.status_code, rec.response, rec.lease_until_ms = DONE, message, None
    return Outcome(message, False)
