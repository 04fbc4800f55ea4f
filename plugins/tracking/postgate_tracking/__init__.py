"""postgate-tracking: open and click tracking of Postgate's own, on any delivery backend.

Marks each batch's message once (a pixel, rewritten links on the operator's https tracking host),
fills per-recipient signed tokens while rendering, serves the pixel and redirects, and records
Mailgun ``opened``/``clicked`` events plus raw hits in its own tables. See ``docs/tracking.md``.
"""
