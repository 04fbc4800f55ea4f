"""Postgate plugin ``mailgun_relay``: deliver through an upstream Mailgun account and read its
events back into Postgate's ledger (``docs/mailgun-relay.md``).

- :mod:`.delivery`: the ``mailgun`` delivery backend (``messages.mime`` per rendered message);
- :mod:`.source`: the ``mailgun_relay`` event source (pages ``GET /v3/{domain}/events``);
- :mod:`.models`: the event source's cursor table, migrated by ``postgate migrate``.
"""
