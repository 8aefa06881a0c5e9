"""Scheduling: route runners moving parts from the store to the drivers, the drivers' sink,
per-route rate limits, routing rules and retry decisions."""
