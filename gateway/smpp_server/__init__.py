"""smsgw as an SMSC: the store's SMPP software binds here and its submits end in the same
accept path as ``POST /v1/messages``."""
