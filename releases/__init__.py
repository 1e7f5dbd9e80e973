"""Release lifecycle: levels, plans, the enforced state machine, deployment and back-out."""
