"""The hook implementations of the webhooks plugin."""
