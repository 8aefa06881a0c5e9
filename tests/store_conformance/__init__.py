"""The store conformance suite: every backend of the store interface passes these tests."""
