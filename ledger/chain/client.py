"""Chain client: local signing, nonce management, a write-ahead journal and batched JSON-RPC.

Only standard JSON-RPC and signed raw transactions (``eth_sendRawTransaction``) are used, never
node-side unlocked accounts, so the same code runs on Anvil, Hyperledger Besu, GoQuorum or
FISCO BCOS's web3-compatible RPC (DESIGN.md §3).

Durability (DESIGN.md §3): every signed raw transaction is recorded in SQL *before* it is sent.
After a node restart, :meth:`ChainClient.recover` re-sends, in nonce order, every journalled
transaction the node does not know — the same bytes, so it is idempotent.

Finality (issue 11; ledger/chain/finality.py): a write is final when its block is K deep; the
journal (ledger/chain/journal.py) tracks it pending → included → final
(:meth:`ChainClient.refresh_finality`, :meth:`ChainClient.wait_final`), and a write a
reorganisation dropped is re-sent as the same signed bytes. Several RPC URLs fail over in order
(ledger/chain/rpc.py); the new node first gets the unfinished journal entries' bytes, and nonces
keep coming from the journal, so nothing is ever re-signed.

Retries that recover: a transaction signed while :data:`journal_tag` is set (the API sets it to a
digest of the caller and the request's ``Idempotency-Key``) carries that tag in the journal, so a
later request can find the transactions of a request that died (:meth:`ChainClient.tagged_transactions`)
and finish them (:meth:`ChainClient.finish`) instead of doing the work again. Transport failures
(connection refused or reset, timeouts, a non-JSON answer) raise :class:`ChainUnavailable`.

Throughput: calls are pre-flighted with ``eth_estimateGas`` (which also refuses, before any gas
is spent, what the contract would refuse — the revert is decoded into its custom error), signed
locally and sent as JSON-RPC batches (web3.py with one HTTP call per transaction reaches about
140 tx/s against Anvil; batches reach thousands per second).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.chain.abi import abi_type, selector
from ledger.chain.finality import Engine as NodeEngine
from ledger.chain.finality import check_final_after, identify, is_final
from ledger.chain.journal import FINAL, INCLUDED, PENDING, JournalBase, JournalEntry
from ledger.chain.rpc import TRANSPORT_ERRORS, ChainError, ChainUnavailable, Endpoints, ipc_call
from ledger.crypto.primitives import keccak256
from ledger.store.migrate import upgrade

__all__ = ["TRANSPORT_ERRORS", "Call", "ChainClient", "ChainError", "ChainUnavailable", "ContractRevert", "FastCall",
           "FinalityState", "JournalBase", "JournalEntry", "SendOutcome", "TxResult", "decode_raw_transaction",
           "journal_tag", "revert_text"]


#: The tag journalled with every transaction signed in this context (None: untagged). The API sets
#: it per request to SHA-256 hex of (caller, ``Idempotency-Key``) — at most 64 characters.
journal_tag: ContextVar[str | None] = ContextVar("journal_tag", default=None)


T = TypeVar("T")


class BoundFunction(Protocol[T]):
    """A contract function with its arguments bound (``ledger.contracts.binding.FunctionCall``)."""

    address: str
    fn_name: str
    data: bytes

    def decode(self, raw: bytes) -> T:
        """Decode the function's return data."""
        ...


class ContractRevert(ChainError):
    """A call or transaction reverted; ``error`` is the decoded custom error's name.

    Attributes:
        error: custom error name (e.g. ``"QuorumNotReached"``), ``"Error"`` for a revert string,
            ``"Panic"`` for a panic code, or ``"unknown"``.
        args: decoded error arguments.
        label: the call's label (what was being done).
    """

    def __init__(self, error: str, args: tuple[Any, ...], label: str, raw: str = "") -> None:
        self.error, self.args_, self.label, self.raw = error, args, label, raw
        super().__init__(f"{label}: reverted with {error}{args}")


@dataclass(frozen=True)
class Call:
    """One transaction to send: ``to`` None creates a contract. ``gas`` None means estimate.
    ``value`` in wei (0: no ether moves; a network's operators fund accounts with it)."""

    sender: str
    to: str | None
    data: bytes
    label: str
    gas: int | None = None
    value: int = 0

    @classmethod
    def of(cls, fn: BoundFunction[Any], sender: str, label: str | None = None, gas: int | None = None) -> Call:
        """Build a call from a contract function with its arguments bound (a binding's
        ``functions.<name>(...)``)."""
        return cls(to_checksum_address(sender), fn.address, fn.data, label or fn.fn_name, gas)


class FastCall:
    """Calldata of one contract function encoded with eth_abi directly (selector + arguments):
    the same bytes as ``Call.of(contract.functions.name(*args), …)`` (tests compare them bit for
    bit) without web3's per-call argument normalisation (~1 ms a call), for bulk runs of tens of
    thousands of calls (simulation, registry replay).

    Args:
        contract: a web3 contract (its ``abi`` and ``address`` are used).
        name: the function's name.

    Raises:
        ValueError: if the contract has no function ``name`` or it is overloaded.
    """

    def __init__(self, contract: Any, name: str) -> None:
        fns = [i for i in contract.abi if i.get("type") == "function" and i["name"] == name]
        if len(fns) != 1:
            raise ValueError(f"{name}: expected exactly one ABI entry, found {len(fns)}")
        self.types = [abi_type(i) for i in fns[0]["inputs"]]
        self.selector = keccak256(f"{name}({','.join(self.types)})".encode())[:4]
        self.to, self.name = contract.address, name

    def __call__(self, sender: str, *args: Any, label: str | None = None, gas: int | None = None) -> Call:
        """The call of this function with ``args`` from ``sender`` (label: the function's name by
        default; gas None: estimated when sent)."""
        return Call(sender, self.to, self.selector + abi_encode(self.types, list(args)), label or self.name, gas)


@dataclass
class SendOutcome:
    """What :meth:`ChainClient.send_all` did: receipts of the mined calls by label, and the
    refused calls as (label, reason) — the reason names the decoded custom error."""

    ok: dict[str, TxResult] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


def revert_text(e: ContractRevert) -> str:
    """``contract refused: Error(arg, …)`` (bytes arguments in hex) — the reason text of a refusal."""
    args = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in e.args_)
    return f"contract refused: {e.error}({args})"


@dataclass(frozen=True)
class FinalityState:
    """One pass of :meth:`ChainClient.refresh_finality`: the head, K, how many unfinished journal
    entries were pending, included or became final in it, and the hashes re-sent."""

    head: int
    final_after: int
    pending: int
    included: int
    final: int
    resent: list[str]


@dataclass
class TxResult:
    """Outcome of a mined transaction (the JSON-RPC receipt kept for event decoding)."""

    tx_hash: str
    label: str
    status: int
    gas_used: int
    block_number: int
    contract_address: str | None
    receipt: Any = field(repr=False)


PRIORITY_TIP_WEI = 10**9
"""Tip over twice the base fee in :meth:`ChainClient.suggest_gas_price` (1 gwei, the common
wallet default; our own choice, not a network rule)."""


class ChainClient:
    """Owns the JSON-RPC endpoints, the signing keys, nonces and the journal.

    Args:
        rpc_url: JSON-RPC URL of any EVM node, or several URLs of nodes of one network: the
            client uses the first and fails over to the next when a node cannot be reached
            (:class:`ledger.chain.rpc.Endpoints`); after a fail-over it re-sends the same signed
            bytes of every unfinished journal entry to the new node and keeps taking nonces from
            the journal (never re-signs).
        journal: SQLAlchemy engine of the journal store (migrated to head: ledger.store.migrate.upgrade).
        error_abis: ABIs whose custom errors should be decoded in reverts.
        gas_price: legacy gas price in wei; None prices each send from the latest block's base
            fee (see :meth:`suggest_gas_price`). Permissioned networks with free gas use 0.
        final_after: K, the depth at which a write is final (``head - block + 1 >= K``); None:
            the engine's default (:attr:`ledger.chain.finality.Engine.default_final_after`:
            ⌊N/2⌋ + 1 on Clique, read from ``clique_getSigners`` each time it is asked, so it
            follows signer votes; 1 on Anvil).
        admin_ipc: IPC socket of a node (geth serves ``clique_*`` only there), or several (the
            first that answers is asked); None: ask the HTTP endpoint (Anvil answers without it).

    Raises:
        ValueError: no URL, a URL that is not HTTP(S), or ``final_after`` < 1.
        ChainUnavailable: no node answers ``eth_chainId``.
    """

    def __init__(self, rpc_url: str | Sequence[str], journal: Engine, *, error_abis: Iterable[list[dict[str, Any]]] = (),
                 gas_price: int | None = None, timeout: float = 120.0, final_after: int | None = None,
                 admin_ipc: str | Sequence[str] | None = None) -> None:
        self.endpoints = Endpoints(rpc_url, timeout, on_failover=self._after_failover)
        self._final_after = None if final_after is None else check_final_after(final_after)
        self.admin_ipc = [admin_ipc] if isinstance(admin_ipc, str) else list(admin_ipc or [])
        self._anvil: bool | None = None
        # web3 only encodes constructor calls here (deploy); every request goes through the endpoints
        self.w3 = Web3(Web3.HTTPProvider(self.endpoints.urls[0], request_kwargs={"timeout": timeout}))
        self.journal = journal
        upgrade(journal, "journal")
        self._ids = itertools.count(1)
        self.chain_id = int(self.rpc("eth_chainId"), 16)
        self._gas_price = gas_price
        self._block_gas_cap: int | None = None
        self._accounts: dict[str, LocalAccount] = {}
        self._nonces: dict[str, int] = {}
        self._lock = threading.RLock()
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in error_abis:
            self.register_errors(abi)
        self.tx_count = 0
        self.gas_used = 0
        #: Transactions re-sent after a reorganisation dropped them (hashes, in order).
        self.resent_after_reorg: list[str] = []
        #: Observer of the write path, called as ``send_hook(stage, tx_hashes)`` with stage
        #: ``"journalled"`` (in the journal, not yet sent) and ``"sent"`` (the node accepted them)
        #: by :meth:`send` and :meth:`send_raw`. None (the default) in production; tests use it to
        #: stop a process at a known point (api.idempotency.TEST_HOOK_ENV).
        self.send_hook: Callable[[str, list[str]], None] | None = None

    @property
    def rpc_url(self) -> str:
        """The JSON-RPC URL in use now."""
        return self.endpoints.current

    @property
    def rpc_urls(self) -> list[str]:
        """Every JSON-RPC URL of the client, in fail-over order."""
        return list(self.endpoints.urls)

    @property
    def http(self) -> Any:
        """The HTTP connection pool of the endpoints (``close()`` it when done)."""
        return self.endpoints.http

    # ----------------------------------------------------------------- JSON-RPC
    def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC request (failing over to the next URL if the node cannot be reached).

        Raises:
            ChainUnavailable: no node can be reached or answers JSON-RPC.
            ChainError: on an error response.
        """
        body = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, method)
        if not isinstance(body, dict):
            raise ChainUnavailable(f"{method}: the node answered {type(body).__name__}, not a JSON-RPC response")
        if "error" in body:
            raise ChainError(f"{method}: {body['error']}")
        return body["result"]

    def rpc_batch(self, requests: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """A JSON-RPC batch; returns the raw response objects in request order.

        Raises:
            ChainUnavailable: no node can be reached or answers JSON-RPC.
            ChainError: the node refused the batch as a whole.
        """
        if not requests:
            return []
        ids = [next(self._ids) for _ in requests]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, requests)]
        out: list[dict[str, Any]] = []
        for part in _batch_parts(payload):
            resp = self._post(part, f"batch of {len(part)}")
            if isinstance(resp, dict):
                raise ChainError(f"batch refused: {resp.get('error')}")
            by_id = {r["id"]: r for r in resp}
            out.extend(by_id[r["id"]] for r in part)
        return out

    def _post(self, payload: Any, what: str) -> Any:
        """POST a JSON-RPC payload (with fail-over); transport failures and non-JSON answers of
        every URL become :class:`ChainUnavailable`."""
        return self.endpoints.post(payload, what)

    def _after_failover(self, url: str) -> None:
        """The node at ``url`` takes over: hand it the same signed bytes of every unfinished journal
        entry (pending or included, in sender and nonce order) it does not know, so that the
        nonces the journal gave out stay contiguous there. Nothing is re-signed."""
        if not hasattr(self, "chain_id"):
            return                   # still connecting: nothing journalled for this chain yet
        with Session(self.journal) as s:
            rows = [(e.tx_hash, e.raw) for e in s.scalars(
                select(JournalEntry).where(JournalEntry.chain_id == self.chain_id, JournalEntry.status != FINAL)
                .order_by(JournalEntry.sender, JournalEntry.nonce))]
        if not rows:
            return
        known = self._batch_to(url, [("eth_getTransactionByHash", [h]) for h, _ in rows])
        missing = [raw for (_, raw), k in zip(rows, known) if not k.get("result")]
        if missing:
            self._batch_to(url, [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in missing])

    def _batch_to(self, url: str, requests: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """A JSON-RPC batch to one URL, no fail-over (split as :func:`_batch_parts`)."""
        out: list[dict[str, Any]] = []
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in requests]
        for part in _batch_parts(payload):
            resp = self.endpoints.post_to(url, part, f"batch of {len(part)}")
            if isinstance(resp, dict):
                raise ChainError(f"batch refused: {resp.get('error')}")
            by_id = {r["id"]: r for r in resp}
            out.extend(by_id[r["id"]] for r in part)
        return out

    # ----------------------------------------------------------------- engine and finality
    def engine(self) -> NodeEngine:
        """What the node in use runs: ``web3_clientVersion`` and, where served, ``clique_getSigners``
        (over :attr:`admin_ipc` if set, else over HTTP)."""
        version = str(self.rpc("web3_clientVersion"))
        signers: list[str] | None = None
        if not version.lower().startswith("anvil"):
            signers = self._clique_signers()
        return identify(version, signers)

    def _clique_signers(self) -> list[str] | None:
        """``clique_getSigners`` from the first IPC socket that answers (or over HTTP without
        any); None where the node does not serve the clique API.

        Raises:
            ChainUnavailable: no IPC socket answers.
        """
        if not self.admin_ipc:
            try:
                return list(self.rpc("clique_getSigners"))
            except ChainUnavailable:
                raise
            except ChainError:
                return None         # the node does not serve the clique API over HTTP
        errors = []
        for path in self.admin_ipc:
            try:
                return list(ipc_call(path, "clique_getSigners"))
            except ChainUnavailable as exc:
                errors.append(str(exc))
            except ChainError:
                return None
        raise ChainUnavailable("; ".join(errors))

    def _is_anvil(self) -> bool:
        """Whether the network is the embedded Anvil node (K = 1 there; asked once)."""
        if self._anvil is None:
            self._anvil = str(self.rpc("web3_clientVersion")).lower().startswith("anvil")
        return self._anvil

    @property
    def final_after(self) -> int:
        """K: a write is final when its block is K deep (configured, or the engine's default).

        Raises:
            ValueError: not configured and the engine has no default (e.g. geth whose clique API
                is only on IPC and no ``admin_ipc`` was given).
        """
        if self._final_after is not None:
            return self._final_after
        if self._is_anvil():
            return 1
        return self.engine().default_final_after

    def refresh_finality(self) -> FinalityState:
        """Move journal entries along pending → included → final, and re-send what a reorg dropped.

        Every entry that is not final is looked up (batched ``eth_getTransactionReceipt``): with a
        receipt it is included in that block (the block number is updated: a reorganisation may
        have moved it), and final once ``head - block + 1 >= K``; without one, an entry the node
        does not know at all (``eth_getTransactionByHash`` null: dropped by a reorganisation, or
        never reached a node that died) is re-sent — the same signed bytes, so the same nonce and
        hash — and is pending again.

        Returns:
            the counts after the pass and the hashes re-sent.

        Raises:
            ChainUnavailable: no node answers.
        """
        k = self.final_after
        with self._lock, Session(self.journal) as s, s.begin():
            rows = list(s.scalars(select(JournalEntry).where(JournalEntry.chain_id == self.chain_id, JournalEntry.status != FINAL)
                                  .order_by(JournalEntry.sender, JournalEntry.nonce)))
            head = int(self.rpc("eth_blockNumber"), 16)
            receipts = self.rpc_batch([("eth_getTransactionReceipt", [e.tx_hash]) for e in rows])
            lost = [e for e, r in zip(rows, receipts) if not r.get("result")]
            known = self.rpc_batch([("eth_getTransactionByHash", [e.tx_hash]) for e in lost])
            resend = [e for e, kn in zip(lost, known) if not kn.get("result")]
            for e, r in zip(rows, receipts):
                rc = r.get("result")
                if rc:
                    e.block_number, e.gas_used = int(rc["blockNumber"], 16), int(rc["gasUsed"], 16)
                    e.receipt_status = int(rc["status"], 16)
                    e.status = FINAL if is_final(e.block_number, head, k) else INCLUDED
                else:
                    e.status, e.block_number = PENDING, None
            if resend:
                self.rpc_batch([("eth_sendRawTransaction", ["0x" + e.raw.hex()]) for e in resend])
                self.resent_after_reorg += [e.tx_hash for e in resend]
            counts = {st: sum(1 for e in rows if e.status == st) for st in (PENDING, INCLUDED, FINAL)}
            resent = [e.tx_hash for e in resend]
        return FinalityState(head, k, counts[PENDING], counts[INCLUDED], counts[FINAL], resent)

    def wait_final(self, timeout: float = 300.0, poll: float = 0.25) -> FinalityState:
        """Refresh finality until no journal entry is pending or included (every write final).

        Raises:
            ChainError: something is still not final after ``timeout`` s (the last state is in the message).
        """
        deadline = time.monotonic() + timeout
        while True:
            st = self.refresh_finality()
            if st.pending == 0 and st.included == 0:
                return st
            if time.monotonic() > deadline:
                raise ChainError(f"not final after {timeout} s: {st}")
            time.sleep(poll)

    # ----------------------------------------------------------------- accounts
    def add_account(self, private_key: bytes | str) -> str:
        """Register a signing key; returns its checksummed address."""
        acct: LocalAccount = Account.from_key(private_key)
        self._accounts[acct.address] = acct
        return acct.address

    def has_account(self, address: str) -> bool:
        """Whether this client holds the signing key of ``address``."""
        return to_checksum_address(address) in self._accounts

    # ----------------------------------------------------------------- errors
    def register_errors(self, abi: list[dict[str, Any]]) -> None:
        """Learn the custom errors of an ABI so reverts can be decoded by name."""
        for item in abi:
            if item.get("type") == "error":
                self._errors[selector(item)] = (item["name"], [abi_type(i) for i in item.get("inputs", [])])

    def decode_revert(self, data: str | None, label: str) -> ContractRevert:
        """Turn revert data (0x hex) into a :class:`ContractRevert` naming the custom error."""
        raw = bytes.fromhex(data[2:]) if data and data.startswith("0x") else b""
        sel, rest = raw[:4], raw[4:]
        if sel == bytes.fromhex("08c379a0"):
            return ContractRevert("Error", tuple(abi_decode(["string"], rest)), label, data or "")
        if sel == bytes.fromhex("4e487b71"):
            return ContractRevert("Panic", tuple(abi_decode(["uint256"], rest)), label, data or "")
        if sel in self._errors:
            name, types = self._errors[sel]
            try:
                return ContractRevert(name, tuple(abi_decode(types, rest)), label, data or "")
            except Exception:  # noqa: BLE001 - malformed data: still name the error
                return ContractRevert(name, (), label, data or "")
        return ContractRevert("unknown", (), label, data or "")

    # ----------------------------------------------------------------- reads
    def call(self, fn: BoundFunction[T], sender: str | None = None, block: str = "latest") -> T:
        """``eth_call`` of a view or of a would-be transaction, decoded by ``fn`` (a binding's
        ``functions.<name>(...)``: structs as dataclasses).

        Raises:
            ContractRevert: the call reverts (custom error decoded).
        """
        return self.call_many([fn], sender, block)[0]

    def call_many(self, fns: Sequence[BoundFunction[Any]], sender: str | None = None, block: str = "latest") -> list[Any]:
        """``eth_call`` of many bound functions in JSON-RPC batches (500 a request), decoded, in order.

        Raises:
            ContractRevert: for the first call that reverts (custom error decoded).
        """
        reqs = []
        for fn in fns:
            tx: dict[str, Any] = {"to": fn.address, "data": "0x" + fn.data.hex()}
            if sender:
                tx["from"] = sender
            reqs.append(("eth_call", [tx, block]))
        out = []
        for fn, resp in zip(fns, self.rpc_batch(reqs)):
            if "error" in resp:
                raise self.decode_revert(_error_data(resp["error"]), fn.fn_name)
            out.append(fn.decode(bytes.fromhex(resp["result"][2:])))
        return out

    # ----------------------------------------------------------------- writes
    def suggest_gas_price(self) -> int:
        """Legacy gas price in wei for a transaction sent now.

        ``2 × baseFeePerGas`` of the latest block plus a fixed tip of 1 gwei: the doubling
        survives six full blocks of base-fee rise (EIP-1559 raises it by at most 12.5 % a
        block). The node's ``eth_gasPrice`` is deliberately not used: Anvil derives it from
        the tips paid in recent blocks, so pricing from it feeds our own tips back into the
        next price and grows it geometrically (measured here: 1e18 wei after ~400
        transactions). Chains without a base fee (pre-London) get ``eth_gasPrice``.
        """
        if self._gas_price is not None:
            return self._gas_price
        block = self.rpc("eth_getBlockByNumber", "latest", False)
        base = block.get("baseFeePerGas") if block else None
        if base is None:
            return max(int(self.rpc("eth_gasPrice"), 16), 1)
        return int(base, 16) * 2 + PRIORITY_TIP_WEI

    _gas_price_now = suggest_gas_price

    def _next_nonce(self, sender: str) -> int:
        if sender not in self._nonces:
            on_chain = int(self.rpc("eth_getTransactionCount", sender, "pending"), 16)
            with Session(self.journal) as s:
                top = s.scalar(select(JournalEntry.nonce).where(JournalEntry.chain_id == self.chain_id, JournalEntry.sender == sender).order_by(JournalEntry.nonce.desc()).limit(1))
            self._nonces[sender] = max(on_chain, -1 if top is None else top + 1)
        n = self._nonces[sender]
        self._nonces[sender] = n + 1
        return n

    def preflight(self, calls: Sequence[Call]) -> list[int]:
        """Estimate gas for each call against the current state (batched).

        Raises:
            ContractRevert: for the first call the contract would refuse, decoded.
        """
        reqs = []
        for c in calls:
            tx: dict[str, Any] = {"from": c.sender, "data": "0x" + c.data.hex()}
            if c.to:
                tx["to"] = c.to
            if c.value:
                tx["value"] = hex(c.value)
            reqs.append(("eth_estimateGas", [tx]))
        gases = []
        for c, resp in zip(calls, self.rpc_batch(reqs)):
            if "error" in resp:
                raise self.decode_revert(_error_data(resp["error"]), c.label)
            gases.append(int(resp["result"], 16))
        return gases

    def send(self, calls: Sequence[Call], *, wait: bool = True, raise_on_revert: bool = True,
             gas_cap: int | None = None) -> list[TxResult]:
        """Pre-flight, sign, journal, and send ``calls`` as JSON-RPC batches of at most one block's
        gas each (``gas_cap``: at most this much gas limit a group; default 90 % of the block gas
        limit) each priced when signed; wait for receipts.

        Calls that name no ``gas`` are estimated against the current state (+25 % and 30,000
        headroom): put calls that depend on each other's effects in separate ``send`` calls.

        Raises:
            ContractRevert: if a pre-flight fails (nothing is signed or sent then) or, with
                ``raise_on_revert``, if a mined transaction reverted.
        """
        if not calls:
            return []
        for c in calls:
            if c.sender not in self._accounts:
                raise ChainError(f"no signing key for {c.sender} ({c.label})")
        with self._lock:
            need = [c for c in calls if c.gas is None]
            est = iter(self.preflight(need)) if need else iter(())
            gas = [c.gas if c.gas is not None else int(next(est) * 1.25) + 30_000 for c in calls]
            groups = self._block_sized_groups(list(zip(calls, gas)), gas_cap)
            results: list[TxResult] = []
            for i, group in enumerate(groups):
                # priced per group: full blocks raise the base fee by up to 12.5 % each (EIP-1559)
                signed = self._sign_and_journal(group, self._gas_price_now())
                responses = self.rpc_batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for _, _, _, raw in signed])
                for (c, _, h, _), resp in zip(signed, responses):
                    if "error" in resp and "already" not in str(resp["error"]).lower():
                        raise ChainError(f"{c.label}: node refused the signed transaction {h}: {resp['error']}")
                self._notify("sent", [h for _, _, h, _ in signed])
                if i < len(groups) - 1:   # the node mines this block's worth before the next group
                    results += self.wait([h for _, _, h, _ in signed], [c.label for c, _, _, _ in signed])
        if not wait:
            return []
        results += self.wait([h for _, _, h, _ in signed], [c.label for c, _, _, _ in signed])
        if raise_on_revert:
            for r in results:
                if r.status != 1:
                    raise self._explain_revert(r)
        return results

    def send_all(self, calls: Sequence[Call], *, chunk: int = 400, advance: Callable[[int], None] | None = None,
                 gas_cap: int | None = None) -> SendOutcome:
        """Send ``calls`` (unique labels) in chunks of ``chunk``, never stopping on a refusal.

        Each chunk is pre-flighted in one batch (``eth_estimateGas``); a call the contract refuses
        is set aside with its decoded error and the rest is pre-flighted again. The survivors get
        :meth:`send`'s gas limit (estimate + 25 % + 30,000) and go through :meth:`send` (block-sized
        groups, ``gas_cap`` as there, each priced when signed). A transaction that reverts when
        mined anyway is re-run as ``eth_call`` on the latest state to decode why. ``advance(n)`` is
        called after each chunk with the number of calls it held (progress bars).

        Raises:
            ContractRevert: a pre-flight revert that names no call of the chunk (never expected).
            ChainError: the node refused a signed transaction or did not mine it in time.
        """
        out = SendOutcome()
        for lo in range(0, len(calls), chunk):
            pending = list(calls[lo:lo + chunk])
            gases: list[int] = []
            while pending:
                try:
                    gases = self.preflight(pending)
                    break
                except ContractRevert as e:
                    idx = next((i for i, c in enumerate(pending) if c.label == e.label), None)
                    if idx is None:
                        raise
                    out.refused.append((e.label, revert_text(e)))
                    del pending[idx]
            sized = [replace(c, gas=int(g * 1.25) + 30_000) for c, g in zip(pending, gases)]
            failed = []
            for c, r in zip(sized, self.send(sized, raise_on_revert=False, gas_cap=gas_cap)):
                if r.status == 1:
                    out.ok[c.label] = r
                else:
                    failed.append(c)
            if failed:
                reqs = [("eth_call", [{"from": c.sender, "to": c.to, "data": "0x" + c.data.hex()}, "latest"])
                        for c in failed]
                for c, resp in zip(failed, self.rpc_batch(reqs)):
                    err = resp.get("error")
                    why = (revert_text(self.decode_revert(_error_data(err), c.label))
                           if err else "reverted when mined (out of gas, or state changed before it ran)")
                    out.refused.append((c.label, why))
            if advance:
                advance(min(chunk, len(calls) - lo))
        return out

    def _block_sized_groups(self, sized: list[tuple[Call, int]], gas_cap: int | None = None
                            ) -> list[list[tuple[Call, int]]]:
        """Split (call, gas limit) pairs into consecutive groups whose gas limits sum to at most
        90 % of the block gas limit. Anvil's automine packs the pending pool into one block when a
        transaction arrives; transactions that do not fit stay pending with nothing to trigger the
        next block, so a send larger than a block would otherwise wait until its timeout.
        ``gas_cap`` overrides the 90 %."""
        if self._block_gas_cap is None:
            block = self.rpc("eth_getBlockByNumber", "latest", False)
            self._block_gas_cap = int(int(block["gasLimit"], 16) * 0.9)
        cap = self._block_gas_cap if gas_cap is None else gas_cap
        groups: list[list[tuple[Call, int]]] = [[]]
        total = 0
        for item in sized:
            if groups[-1] and total + item[1] > cap:
                groups.append([])
                total = 0
            groups[-1].append(item)
            total += item[1]
        return groups

    def _sign_and_journal(self, group: list[tuple[Call, int]], price: int) -> list[tuple[Call, int, str, bytes]]:
        """Sign the group's transactions with consecutive nonces and journal them (write-ahead:
        the journal holds every transaction before the node sees it)."""
        signed = []
        now = datetime.now(UTC).isoformat()
        for c, g in group:
            tx: dict[str, Any] = {"nonce": self._next_nonce(c.sender), "gas": g, "gasPrice": price,
                                  "chainId": self.chain_id, "data": c.data, "value": c.value}
            if c.to:
                tx["to"] = c.to
            st = self._accounts[c.sender].sign_transaction(tx)
            signed.append((c, tx["nonce"], "0x" + st.hash.hex().removeprefix("0x"), bytes(st.raw_transaction)))
        with Session(self.journal) as s, s.begin():
            s.add_all(JournalEntry(tx_hash=h, chain_id=self.chain_id, sender=c.sender, nonce=n, raw=raw,
                                   label=c.label[:200], status=PENDING, created_at=now, idempotency_key=journal_tag.get())
                      for c, n, h, raw in signed)
        self._notify("journalled", [h for _, _, h, _ in signed])
        return signed

    def send_raw(self, raw: bytes, label: str) -> TxResult:
        """Pre-flight, journal and send a transaction signed by its sender (non-custodial mode).

        Raises:
            ContractRevert: if the pre-flight ``eth_call`` reverts (nothing is sent) or the mined
                transaction reverted.
            ChainError: if the transaction is malformed or the node refuses it.
        """
        tx = decode_raw_transaction(raw)
        if tx.chain_id not in (None, self.chain_id):
            raise ChainError(f"{label}: transaction is for chain {tx.chain_id}, this chain is {self.chain_id}")
        call = {"from": tx.sender, "data": "0x" + tx.data.hex(), "gas": hex(tx.gas)}
        if tx.to:
            call["to"] = tx.to
        resp = self.rpc_batch([("eth_call", [call, "latest"])])[0]
        if "error" in resp:
            raise self.decode_revert(_error_data(resp["error"]), label)
        h = "0x" + keccak256(raw).hex()
        with self._lock:
            with Session(self.journal) as s, s.begin():
                if s.get(JournalEntry, h) is None:
                    s.add(JournalEntry(tx_hash=h, chain_id=self.chain_id, sender=tx.sender, nonce=tx.nonce, raw=raw,
                                       label=label[:200], status=PENDING, created_at=datetime.now(UTC).isoformat(),
                                       idempotency_key=journal_tag.get()))
            self._notify("journalled", [h])
            sent = self.rpc_batch([("eth_sendRawTransaction", ["0x" + raw.hex()])])[0]
            if "error" in sent and "already" not in str(sent["error"]).lower():
                with Session(self.journal) as s, s.begin():
                    e = s.get(JournalEntry, h)
                    if e is not None and e.status == PENDING:
                        s.delete(e)
                raise ChainError(f"{label}: node refused the signed transaction: {sent['error']}")
            self._nonces.pop(tx.sender, None)
            self._notify("sent", [h])
        r = self.wait([h], [label])[0]
        if r.status != 1:
            raise self._explain_revert(r)
        return r

    def explain_revert(self, r: TxResult) -> ContractRevert:
        """The custom error a mined, reverted transaction ``r`` reverted with (re-run as an
        ``eth_call`` at the block before it)."""
        return self._explain_revert(r)

    def _explain_revert(self, r: TxResult) -> ContractRevert:
        tx = self.rpc("eth_getTransactionByHash", r.tx_hash)
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
        resp = self.rpc_batch([("eth_call", [call, hex(r.block_number - 1)])])[0]
        return self.decode_revert(_error_data(resp.get("error", {})), r.label)

    def wait(self, hashes: Sequence[str], labels: Sequence[str] | None = None, timeout: float = 300.0) -> list[TxResult]:
        """Wait for receipts of ``hashes`` (batched polling) and record them in the journal."""
        labels = labels or [""] * len(hashes)
        pending = dict(enumerate(hashes))
        got: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        delay = 0.005
        while pending:
            idx = list(pending)
            for i, resp in zip(idx, self.rpc_batch([("eth_getTransactionReceipt", [pending[i]]) for i in idx])):
                if resp.get("result"):
                    got[i] = resp["result"]
                    del pending[i]
            if pending:
                if time.monotonic() > deadline:
                    raise ChainError(f"{len(pending)} transactions not mined after {timeout} s")
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        results = []
        final_at_once = self._final_after == 1 or (self._final_after is None and self._is_anvil())
        with Session(self.journal) as s, s.begin():
            for i, h in enumerate(hashes):
                rc = got[i]
                r = TxResult(h, labels[i], int(rc["status"], 16), int(rc["gasUsed"], 16), int(rc["blockNumber"], 16),
                             rc.get("contractAddress") and to_checksum_address(rc["contractAddress"]), rc)
                results.append(r)
                e = s.get(JournalEntry, h)
                if e is not None and e.status == PENDING:
                    self.tx_count += 1
                    self.gas_used += r.gas_used
                if e is not None:
                    if e.status != FINAL:
                        e.status = FINAL if final_at_once else INCLUDED
                    e.block_number, e.gas_used, e.receipt_status = r.block_number, r.gas_used, r.status
        return results

    def transact(self, fn: BoundFunction[Any], sender: str, label: str | None = None) -> TxResult:
        """Send one contract call and wait for it (see :meth:`send`)."""
        return self.send([Call.of(fn, sender, label)])[0]

    def deploy(self, sender: str, abi: list[dict[str, Any]], bytecode: str, *args: Any, label: str = "deploy") -> str:
        """Deploy a contract with constructor ``args``; returns its address."""
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
        self.register_errors(abi)
        r = self.send([Call(to_checksum_address(sender), None, data, label)])[0]
        assert r.contract_address
        return r.contract_address

    # ----------------------------------------------------------------- recovery
    def recover(self) -> int:
        """Re-send, in nonce order, every journalled transaction the node does not know.

        Used after a node restart (the node may have come back from an older snapshot).
        Returns the number of transactions re-sent; waits until they are mined.
        """
        with Session(self.journal) as s:
            entries = s.scalars(select(JournalEntry).where(JournalEntry.chain_id == self.chain_id)
                                .order_by(JournalEntry.sender, JournalEntry.nonce)).all()
            rows = [(e.tx_hash, e.raw, e.label) for e in entries]
        known = self.rpc_batch([("eth_getTransactionByHash", [h]) for h, _, _ in rows])
        missing = [(h, raw, label) for (h, raw, label), k in zip(rows, known) if not k.get("result")]
        if missing:
            self.rpc_batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for _, raw, _ in missing])
            self.wait([h for h, _, _ in missing], [label for _, _, label in missing])
        self._nonces.clear()
        return len(missing)

    def tagged_transactions(self, tag: str) -> list[JournalEntry]:
        """Journalled transactions signed under :data:`journal_tag` ``tag``, by sender and nonce
        (detached rows: ``tx_hash``, ``sender``, ``nonce``, ``raw``, ``label``, ``status``)."""
        with Session(self.journal) as s:
            rows = list(s.scalars(select(JournalEntry).where(JournalEntry.chain_id == self.chain_id, JournalEntry.idempotency_key == tag)
                                  .order_by(JournalEntry.sender, JournalEntry.nonce)))
            s.expunge_all()
        return rows

    def finish(self, entries: Sequence[JournalEntry], timeout: float = 120.0) -> list[TxResult]:
        """Finish journalled transactions a dead request left behind: re-send, in nonce order, the
        same signed bytes of those the node does not know, and wait for every receipt.

        Returns:
            one :class:`TxResult` per entry, in the order given (reverted ones included: check ``status``).

        Raises:
            ChainUnavailable: the node cannot be reached.
            ChainError: a receipt did not come within ``timeout`` s (e.g. an earlier nonce of the
                sender is missing: run :meth:`recover`).
        """
        if not entries:
            return []
        known = self.rpc_batch([("eth_getTransactionByHash", [e.tx_hash]) for e in entries])
        missing = sorted((e for e, k in zip(entries, known) if not k.get("result")), key=lambda e: (e.sender, e.nonce))
        if missing:
            sent = self.rpc_batch([("eth_sendRawTransaction", ["0x" + e.raw.hex()]) for e in missing])
            for e, resp in zip(missing, sent):
                if "error" in resp and "already" not in str(resp["error"]).lower():
                    raise ChainError(f"{e.label}: node refused the journalled transaction {e.tx_hash}: {resp['error']}")
            with self._lock:
                for e in missing:
                    self._nonces.pop(e.sender, None)
        return self.wait([e.tx_hash for e in entries], [e.label for e in entries], timeout=timeout)

    def _notify(self, stage: str, hashes: list[str]) -> None:
        if self.send_hook is not None and hashes:
            self.send_hook(stage, hashes)

    def rewind(self) -> int:
        """Forget journalled transactions the chain no longer has after a deliberate revert
        (``evm_revert`` in tests, a chain reset): rows at or above each sender's on-chain nonce
        are deleted and the nonce cache is cleared. Returns the number of rows forgotten.

        Never call this after a crash — :meth:`recover` is for that.
        """
        with Session(self.journal) as s, s.begin():
            senders = s.scalars(select(JournalEntry.sender).where(JournalEntry.chain_id == self.chain_id).distinct()).all()
            n = 0
            for sender in senders:
                on_chain = int(self.rpc("eth_getTransactionCount", sender, "latest"), 16)
                for e in s.scalars(select(JournalEntry).where(JournalEntry.chain_id == self.chain_id,
                                                              JournalEntry.sender == sender, JournalEntry.nonce >= on_chain)):
                    s.delete(e)
                    n += 1
        self._nonces.clear()
        return n


@dataclass(frozen=True)
class RawTransaction:
    """The fields of a signed raw transaction that the API checks before relaying it."""

    sender: str
    nonce: int
    to: str | None
    data: bytes
    gas: int
    chain_id: int | None


def decode_raw_transaction(raw: bytes) -> RawTransaction:
    """Decode a signed legacy (EIP-155) or EIP-1559/2930 transaction and recover its sender.

    Raises:
        ChainError: if the bytes are not a signed transaction.
    """
    try:
        sender = to_checksum_address(Account.recover_transaction(raw))
        if raw and raw[0] in (1, 2):
            f = rlp.decode(raw[1:])
            chain_id, nonce = int.from_bytes(f[0], "big"), int.from_bytes(f[1], "big")
            gas, to, data = (f[3], f[4], f[6]) if raw[0] == 1 else (f[4], f[5], f[7])
        else:
            f = rlp.decode(raw)
            nonce, gas, to, data = int.from_bytes(f[0], "big"), f[2], f[3], f[5]
            v = int.from_bytes(f[6], "big")
            chain_id = (v - 35) // 2 if v >= 35 else None
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "not a signed transaction"
        raise ChainError(f"not a signed transaction: {exc}") from None
    return RawTransaction(sender, nonce, to_checksum_address(to) if to else None, bytes(data), int.from_bytes(gas, "big"), chain_id)


#: At most this many requests in one JSON-RPC batch POST.
BATCH_MAX_REQUESTS = 500
#: At most this many bytes of JSON in one batch POST: nodes cap a request body (geth 5 MiB,
#: ``maxRequestContentLength``; Anvil 1.5.1 refuses a 6 MB batch with -32600 "Invalid request",
#: measured 2026-12-04), and a settlement transaction with a hundred signed orders is ~100 kB.
BATCH_MAX_BYTES = 1_500_000


def _batch_parts(payload: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Split a JSON-RPC batch into POSTs of at most :data:`BATCH_MAX_REQUESTS` requests and
    :data:`BATCH_MAX_BYTES` bytes of JSON (a single larger request goes alone: the node answers it)."""
    part: list[dict[str, Any]] = []
    size = 0
    for req in payload:
        n = len(json.dumps(req, separators=(",", ":"))) + 1
        if part and (len(part) == BATCH_MAX_REQUESTS or size + n > BATCH_MAX_BYTES):
            yield part
            part, size = [], 0
        part.append(req)
        size += n
    if part:
        yield part


def _error_data(err: dict[str, Any]) -> str | None:
    data = err.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, str) else None
