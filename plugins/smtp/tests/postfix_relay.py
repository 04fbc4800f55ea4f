"""A private Debian Postfix instance for the tests: its own configuration, queue and log in a
temporary folder, smtpd on a free loopback port with STARTTLS required (the test CA's
certificate), relaying everything to a given port (an aiosmtpd sink). Needs root (Postfix's
master runs as root and its daemons as ``postfix``) and the ``postfix`` package."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from postgate.testing.fixtures import free_port

POSTFIX = "/usr/sbin/postfix"
MASTER_CF = Path("/etc/postfix/master.cf")


def available() -> bool:
    """Postfix is installed and we may run it (root, a ``postfix`` user)."""
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return False
    return os.path.exists(POSTFIX) and MASTER_CF.exists() and os.geteuid() == 0


def _postfix(folder: Path, *args: str) -> None:
    # Postfix writes its errors to stderr only on a terminal; `script` gives it one.
    command = " ".join([POSTFIX, "-c", str(folder / "etc"), *args])
    done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        log = (folder / "maillog").read_text() if (folder / "maillog").exists() else ""
        raise RuntimeError(f"postfix {' '.join(args)} failed: {done.stdout}{done.stderr}\n{log[-2000:]}")


@contextlib.contextmanager
def postfix_relay(cert_file: Path, key_file: Path, relay_to: int) -> Iterator[int]:
    """Start the instance; yields its smtpd port; stops it and removes its folder afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="postgate-postfix-"))
    os.chmod(folder, 0o755)
    port = free_port()
    for name in ("etc", "queue", "data"):
        (folder / name).mkdir()
    shutil.chown(folder / "data", "postfix")
    shutil.copy(cert_file, folder / "etc" / "cert.pem")
    shutil.copy(key_file, folder / "etc" / "key.pem")
    os.chmod(folder / "etc" / "key.pem", 0o600)
    (folder / "etc" / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
maillog_file_prefixes = {folder}
maillog_file = {folder}/maillog
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_to}
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = {folder}/etc/cert.pem
smtpd_tls_key_file = {folder}/etc/key.pem
smtp_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = yes
delay_warning_time = 0
""")
    master = MASTER_CF.read_text()
    master = re.sub(r"(?m)^smtp\s+inet\s.*$", f"127.0.0.1:{port} inet n - n - - smtpd", master)
    master = re.sub(r"(?m)^(\S+\s+(?:unix|inet|fifo|unix-dgram|pass)\s+\S+\s+\S+\s+)y(\s)", r"\1n\2", master)
    (folder / "etc" / "master.cf").write_text(master)
    _postfix(folder, "start")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postfix smtpd did not listen") from None
                time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(RuntimeError):
            _postfix(folder, "stop")
        shutil.rmtree(folder, ignore_errors=True)
