"""Segregated custody ledgers: double-entry journal, holds, reconciliation, proof of reserves."""
