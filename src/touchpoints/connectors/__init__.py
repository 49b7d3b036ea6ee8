"""Channel connectors: WhatsApp Business Cloud API, Chatwoot, Twilio Voice, Asterisk.

Each connector is a pure translation from what a channel sends to canonical SPEC §2
events plus the pieces it could not map (kept raw, with a reason, for quarantine). No
connector does I/O: the webhook routes (`touchpoints.server.webhooks`) verify signatures,
load and save per-conversation state, store events and quarantine the rest; the
`touchpoints import asterisk` command does the same for a queue_log file. Keeping the
translation pure is what lets the tests check exact events for documented payloads.
"""

from touchpoints.connectors.common import Translation, Unmapped

__all__ = ["Translation", "Unmapped"]
