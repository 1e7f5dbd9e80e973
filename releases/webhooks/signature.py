"""Standard Webhooks signature checks, done by the ``standardwebhooks`` library."""

import binascii
import logging

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from releases.webhooks.secrets import secret_open

logger = logging.getLogger(__name__)


def signature_verify(*, body: str, headers: dict, stored_secrets) -> bool:
    """True when the ``webhook-signature`` matches ``body`` with any of the secrets (rotation) and
    ``webhook-timestamp`` is within five minutes of now. Malformed headers count as a mismatch."""
    for stored in stored_secrets:
        secret = secret_open(stored)
        if secret is None:
            logger.warning("A webhook secret cannot be decrypted with WEBHOOK_SECRET_KEY.")
            continue
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError, binascii.Error, TypeError):
            continue
        return True
    return False
