"""``python -m scripts.bench_assets_gas``: the gas table of :mod:`ledger.simulation.asset_gas`
(``--json`` prints the figures as JSON too)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from ledger.simulation.asset_gas import measure_asset_gas


def main(console: Console | None = None) -> dict[str, int]:
    """Measure and print the gas table; returns {operation: gas}."""
    console = console or Console()
    g = measure_asset_gas()
    tab = Table(title="CarbonAssets / CCERRegistry / Settlement gas (Anvil, paris, solc 0.8.28 optimizer 200)")
    tab.add_column("operation")
    tab.add_column("gas", justify="right")
    for k, v in g.items():
        tab.add_row(k, f"{v:,}")
    console.print(tab)
    return g


if __name__ == "__main__":
    figures = main()
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=2))
