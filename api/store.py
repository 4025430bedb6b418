"""The API's own SQL store: API keys (hashed), signed-request nonces, idempotency records."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ApiBase(DeclarativeBase):
    """Declarative base of the API store."""


class ApiKey(ApiBase):
    """An API key bound to one on-chain account and role. Only the secret's SHA-256 is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(24), primary_key=True)      # public part of the key
    secret_sha256: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(66), index=True)            # 0x bytes32
    account: Mapped[str] = mapped_column(String(42), index=True)           # checksummed address
    role: Mapped[str] = mapped_column(String(32))                          # e.g. ENTERPRISE_ROLE
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)                    # UTC s
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(24), nullable=True)


class RequestNonce(ApiBase):
    """A nonce already used by a signed request (replay protection)."""

    __tablename__ = "request_nonces"
    __table_args__ = (UniqueConstraint("account", "nonce", name="uq_nonce_account"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger, index=True)


class IdempotencyRecord(ApiBase):
    """The stored response of a POST made with an ``Idempotency-Key``; while ``status_code`` is
    None the request ``owner`` holds it until ``lease_until_ms`` (renewed while it runs)."""

    __tablename__ = "idempotency"
    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idempotency_principal_key"),
                      Index("ix_idempotency_created", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(80))      # who made the request (key id or account)
    key: Mapped[str] = mapped_column(String(200))
    method_path: Mapped[str] = mapped_column(String(300))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)   # None while in progress
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True)          # token of the request holding the key
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # UTC ms; in progress and past it: dead


class ExchangeTrade(ApiBase):
    """A matched trade the exchange submitted for settlement, with the rule check and its outcome.

    ``trade_day`` is the exchange's trading day (UTC+08:00, china_rules.md §5 trading hours);
    prices are fen per tonne, quantities whole tCO2e. Status: ``refused`` (exchange rules failed,
    never sent), ``settled``, ``skipped`` (the contract's check failed in skip mode; ``reason``
    names it), ``duplicate`` (the trade id was already settled by an earlier batch).
    """

    __tablename__ = "exchange_trades"
    __table_args__ = (Index("ix_exchange_trades_day_asset", "trade_day", "asset_id"),
                      Index("ix_exchange_trades_buyer_day", "buyer", "trade_day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trade_id: Mapped[str] = mapped_column(String(66), unique=True)          # 0x bytes32
    batch_key: Mapped[str] = mapped_column(String(200), index=True)          # submitting batch
    trade_day: Mapped[str] = mapped_column(String(10))                       # YYYY-MM-DD (UTC+08:00)
    mode: Mapped[str] = mapped_column(String(10))                            # listed | block
    seller: Mapped[str] = mapped_column(String(42), index=True)
    buyer: Mapped[str] = mapped_column(String(42))
    asset_id: Mapped[str] = mapped_column(String(80))                        # decimal token id
    quantity: Mapped[int] = mapped_column(BigInteger)                        # tCO2e
    price_fen: Mapped[int] = mapped_column(BigInteger)                       # fen per tonne
    buyer_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    seller_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    submitted_at: Mapped[int] = mapped_column(BigInteger)                    # UTC s


class ExchangeReferenceClose(ApiBase):
    """The previous close (fen/t) the exchange gave for an asset's trading day when this service
    had no settled listed trades to compute it from; kept so every batch of that day uses it."""

    __tablename__ = "exchange_reference_closes"

    asset_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    trade_day: Mapped[str] = mapped_column(String(10), primary_key=True)
    close_fen: Mapped[int] = mapped_column(BigInteger)


class EvidenceFile(ApiBase):
    """An encrypted evidence file (ledger/evidence.py envelope) attached to an emission record.

    The envelope lives in the evidence directory as ``storage_name``; its two hashes are anchored
    in EvidenceRegistry at (record_id, chain_index). ``readers``: JSON list of the addresses the
    data key is currently wrapped to. Sizes in bytes; times UTC s."""

    __tablename__ = "evidence_files"
    __table_args__ = (Index("ix_evidence_files_record", "record_id", "chain_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigInteger)
    chain_index: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[str] = mapped_column(String(66), index=True)              # 0x bytes32 of the enterprise
    uploaded_by: Mapped[str] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    plaintext_bytes: Mapped[int] = mapped_column(BigInteger)
    envelope_bytes: Mapped[int] = mapped_column(BigInteger)
    ciphertext_sha256: Mapped[str] = mapped_column(String(66), unique=True)  # 0x hex
    salted_plaintext_sha256: Mapped[str] = mapped_column(String(66))
    storage_name: Mapped[str] = mapped_column(String(100))
    readers: Mapped[str] = mapped_column(Text)
    tx_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[int] = mapped_column(BigInteger)
    rewrapped_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
