"""The driver conformance suite: every driver behind the seam passes these tests."""
