"""``carbonledger demo``'s wiring: the main job (:mod:`oracles.main_job`) with its monthly cycle
through the HTTP API (scripts/demo_http.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from ledger.chain.anvil import free_port
from oracles.main_job import DemoResult, run_main_job
from oracles.system import System
from scripts.demo_http import monthly_cycle_over_http


def run_demo(system: System, start: date, end: date, *, progress: Callable[[str, int, int], Any] | None = None,
             log: Callable[[str], Any] = print, seed: int | None = None, api_port: int | None = None) -> DemoResult:
    """Run the main job on ``[start, end)`` with the monthly cycle over the HTTP API.

    Args:
        system: a started :class:`~oracles.system.System`.
        progress: ``progress(phase, done, total)`` callback for progress bars.
        seed: seed of the verifier's random proof sample (None: random).
        api_port: port of the API the monthly cycle goes through (None: a free port).
    """
    port = api_port or free_port()
    return run_main_job(system, start, end, lambda months: monthly_cycle_over_http(system, list(months), port, seed),
                        progress=progress, log=log)
