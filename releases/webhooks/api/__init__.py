"""The webhooks' API: the signed receiver (``receiver``: no login, the signature is the credential)
and the management API for integration managers (``views``: sources and their secrets, the delivery
log with replay, the outbound callbacks with resend); ``urls`` mounts both under ``/api/v1/``."""
