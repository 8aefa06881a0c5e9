"""Flows: message sequences that events start and stop (durable runs and step timers)."""
