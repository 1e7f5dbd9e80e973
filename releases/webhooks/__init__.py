"""Inbound change-management webhooks: signature checks, adapters and the services that store and
process deliveries."""
