"""Signals of the telephony side."""

from django.dispatch import Signal

# A carrier event that did not come over HTTP (the simulator): workspace_id, kind ("status" or
# "inbound"), params (Twilio-shaped form fields) and url (the status callback URL, or None).
carrier_event = Signal()
