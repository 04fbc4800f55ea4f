"""Shared test set-up: Postgate's public fixtures for every test folder."""

pytest_plugins = ["postgate.testing.fixtures", "postgate.testing.aws"]
