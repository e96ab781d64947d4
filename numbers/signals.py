"""Signals of the telephony side."""

from django.dispatch import Signal

# A carrier event that did not come over HTTP (the simulator carrier). Sent with the provider name
# as sender and the keyword arguments:
#   workspace_id: str   the workspace whose carrier account produced it
#   kind: str           "status" (a message status callback) or "inbound" (an incoming message)
#   params: dict[str, str]  the Twilio-shaped form parameters the webhook would have carried
#   url: str | None     for "status", the status-callback URL the carrier would have called (it
#                       carries the platform's own message id); None for "inbound"
# Receivers treat it exactly like a verified webhook: store the raw event, then process it.
carrier_event = Signal()
