"""Campaigns for stores: message templates rendered per recipient, contacts and segments
(sans-IO, pure)."""
