"""Authenticator codes for tests that hand a code to a server a while after taking it."""

from __future__ import annotations

import time

import pyotp

#: Seconds of the current 30-second step left at least when a previous step's code is taken.
MARGIN = 10.0


def previous_step_code(totp: pyotp.TOTP) -> str:
    """The previous step's code, which leaves the current one fresh for a later sign-in.

    The server takes a code of the step before its own (clock drift) only until the current step
    ends; a loaded machine may take a second or more to get the code there (a browser form, another
    thread's loop), so the code is taken with at least ``MARGIN`` seconds of the step left."""
    left = 30 - time.time() % 30
    if left < MARGIN:
        time.sleep(left + 0.05)
    return totp.at(time.time() - 30)
