"""The hook implementations of the mailgun plugin."""
