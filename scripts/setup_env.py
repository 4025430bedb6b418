"""Moved to :mod:`oracles.system` (the demo system is logic, not a command). This name stays only
for scripts/demo_http.py and scripts/bench_ingest.py, whose owners switch their imports to
``oracles.system``; then this file goes."""

from __future__ import annotations

from oracles.system import (
    METER_CALIBRATED_UNTIL,
    METER_CALIBRATION_STATEMENT,
    ORACLES,
    PARTICIPANTS,
    PROJECT_ROOT,
    ROOT_FOR_CLI,
    System,
    open_keystore,
)

__all__ = ["METER_CALIBRATED_UNTIL", "METER_CALIBRATION_STATEMENT", "ORACLES", "PARTICIPANTS", "PROJECT_ROOT",
           "ROOT_FOR_CLI", "System", "open_keystore"]
