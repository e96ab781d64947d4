"""The Twilio-compatible Messages API under /2010-04-01/ (docs/twilio-compat.md).

Twilio's SDKs and Twilio-speaking platforms work against this installation by changing their base
URL. Every send goes through messaging.sending; status callbacks and SmsUrl forwarding hear the
platform's message events through messaging.events.EVENT_SINKS.
"""
