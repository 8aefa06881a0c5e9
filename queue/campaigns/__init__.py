"""Campaigns for stores: message templates rendered per recipient (sans-IO, pure)."""
