"""``carbonledger verify`` — independently re-verify a monthly emissions record.

Given only the chain's JSON-RPC URL, the deployment manifest and the API URL, the command fetches
the record's data from the API (record, batches, every reading with its signature and proof,
factor set) and checks every root, signature and formula against the chain itself
(:func:`ledger.verify.provenance.verify_record`, data through :class:`api.client.ApiClient`), then prints the verdict table. Exit code 0: every check
passed; 1: a check failed; 2: the verification could not run (API or chain unreachable, bad
credentials, unknown record).

Mounted by the lead as ``app.command("verify")(verify)`` in scripts/cli.py.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.client import ApiClient, ApiError
from ledger.crypto.primitives import Signer
from ledger.verify.provenance import Verdict, VerifierError, open_deployment, verify_record

console = Console(width=None if sys.stdout.isatty() else 160)
_STYLE = {"pass": "[green]PASS[/green]", "fail": "[bold red]FAIL[/bold red]", "skip": "[yellow]skip[/yellow]"}


def verdict_table(v: Verdict) -> Table:
    """The verdict as a Rich table: one row per check (check, expected, found, result)."""
    t = Table(title=f"record {v.record_id}: {'PASS' if v.passed else 'FAIL'}", show_lines=False)
    t.add_column("check", no_wrap=True)
    t.add_column("expected (chain)")
    t.add_column("found (API / recomputed)")
    t.add_column("result", no_wrap=True)
    for c in v.checks:
        t.add_row(c.name, c.expected, c.found + (f" — {c.detail}" if c.detail else ""), _STYLE[c.status])
    return t


def _read_key(path: Path) -> bytes:
    """A private key file: 0x-hex or hex text (32 bytes), or 32 raw bytes."""
    raw = path.read_bytes()
    try:
        text = raw.decode().strip().removeprefix("0x")
        key = bytes.fromhex(text)
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) != 32:
        raise typer.BadParameter(f"{path} does not hold a 32-byte private key")
    return key


def verify(
    record_id: Annotated[int, typer.Argument(help="EmissionsRegistry record id.", min=1)],
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the chain (the truth).")],
    manifest: Annotated[Path, typer.Option("--manifest", exists=True, dir_okay=False,
                                           help="Deployment manifest (deployment.json) naming the contracts.")],
    api_url: Annotated[str, typer.Option("--api-url", help="Base URL of the CarbonLedger API (data only).")],
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="CARBONLEDGER_API_KEY",
                                                help="Verifier API key (clk_…).")] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", exists=True, dir_okay=False,
                                                  help="Verifier's private key (hex) for EIP-712 signed requests.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the verdict as JSON to this path.")] = None,
    sample: Annotated[int, typer.Option(help="Inclusion proofs checked on-chain per batch.", min=0)] = 3,
    seed: Annotated[int | None, typer.Option(help="Seed of the proof sample.")] = None,
) -> None:
    """Re-verify RECORD_ID: trust the API for data only, check roots, signatures and formulas
    against the chain; print the verdict table (exit 0 pass, 1 fail, 2 could not verify)."""
    if (api_key is None) == (key_file is None):
        raise typer.BadParameter("give exactly one of --api-key or --key-file")
    try:
        dep = open_deployment(rpc_url, manifest)
        if key_file is not None:
            api = ApiClient(api_url, signer=Signer(_read_key(key_file)), chain_id=dep.client.chain_id)
        else:
            api = ApiClient(api_url, api_key=api_key)
        try:
            with console.status(f"verifying record {record_id}…"):
                v = verify_record(dep, None, api, record_id, sample_per_batch=sample, rng=random.Random(seed))
        finally:
            api.close()
    except (VerifierError, ApiError) as exc:
        console.print(f"[red]could not verify record {record_id}: {exc}[/red]")
        raise typer.Exit(2) from None
    console.print(verdict_table(v))
    console.print(f"report hash 0x{v.report_hash().hex()}  findings hash 0x{v.findings_hash().hex()}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(v.as_dict(), indent=2, ensure_ascii=False))
        console.print(f"verdict written to {json_path}")
    raise typer.Exit(0 if v.passed else 1)
