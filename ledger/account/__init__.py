"""The enterprise carbon account (碳账户, issue 13): one view per enterprise and compliance year over
what the ledger holds — emissions by scope, source and month, energy and intensity, allowances and
CCER, trades settled, compliance position and deadlines, each figure with its provenance."""
