"""Early warning (issue 13): rules the regulator configures per enterprise or sector, evaluated over
monthly and annual figures and over meter streams; alerts with their evidence, stored and listed.

* :mod:`ledger.alerts.rules` — rule kinds, their parameters (units in the names), validation, and the
  sourced defaults (china_rules.md where a value exists, UNCONFIRMED otherwise);
* :mod:`ledger.alerts.checks` — the evaluation: each rule gives, per subject, alerts, "no alert" or
  "not evaluable" with the reason (never "no alert" where the data cannot support the rule);
* :mod:`ledger.alerts.ampd` — AMPD annual unit files as period figures (2016 against 2017);
* :mod:`ledger.alerts.store` — the SQL store of rules and alerts (Alembic store ``alerts``) and the
  listing query the API and the regulator's pages use (:func:`ledger.alerts.store.list_alerts`);
* :mod:`ledger.alerts.runs` — each evaluation run recorded (``alert_runs``: rules and versions, counts
  per rule fired / not evaluable with the reasons);
* :mod:`ledger.alerts.intake` — alerts an oracle node posts, checked before they are stored.
"""
