"""Consent and courtesy: pure decisions on whether and when a message may reach a recipient.

The policy (:mod:`.policy`) decides from facts the store loads and returns verdicts the store
writes; quiet hours, frequency caps, number parsing and keyword matching are pure functions;
the keyword handler (:mod:`.keyword_handler`) acts on inbound STOP/START/HELP; the opt-out list's
facade (:mod:`.optout_list`) and its CSV (:mod:`.csv_io`) serve the API.
"""
