"""Signals of the telephony side."""

from django.dispatch import Signal

# A carrier event that did not come over HTTP (the simulator carrier). Sent with the provider name
# as sender and the keyword arguments:
#   workspace_id: str   the workspace whose carrier account produced it
#   kind: str           "status" (a status of a message we sent) or "inbound" (an incoming message)
#   payload: dict       the event, as the provider's parse_status / parse_inbound read it (the
#                       simulator's: the fields of StatusUpdate / InboundMessage)
# Receivers treat it exactly like a verified webhook: store the raw event, then process it.
carrier_event = Signal()
