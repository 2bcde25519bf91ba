"""Admin of the consent app: the ledger, and GDPR work (requests, suppression, access log)."""

from consent.admin import gdpr, ledger

__all__ = ["gdpr", "ledger"]
