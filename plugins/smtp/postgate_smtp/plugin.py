"""The hook implementations of the smtp plugin."""
