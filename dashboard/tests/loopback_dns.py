"""A real DNS server on 127.0.0.1 (UDP, built on dnspython's wire format) serving MX records, for
the MX look-up tests: it counts the questions per name and the most answered at once; names in
``silent`` get no answer (a time-out), names in ``slow`` are answered after ``delay`` seconds."""

from __future__ import annotations

import socketserver
import threading
import time
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    mx: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # name -> [(preference, host)]
    silent: set[str] = field(default_factory=set)
    delay: float = 0.0
    asked: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        zone: Zone = self.server.zone  # type: ignore[attr-defined]
        data, sock = self.request
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text().rstrip(".").lower()
        with zone.lock:
            zone.asked[name] = zone.asked.get(name, 0) + 1
            zone.in_flight += 1
            zone.most_in_flight = max(zone.most_in_flight, zone.in_flight)
        try:
            if name in zone.silent:
                return
            if zone.delay:
                time.sleep(zone.delay)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            records = zone.mx.get(name)
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif query.question[0].rdtype == dns.rdatatype.MX and records:
                response.answer.append(dns.rrset.from_text(
                    query.question[0].name, 300, "IN", "MX", *[f"{pref} {host}." for pref, host in records]))
            sock.sendto(response.to_wire(), self.client_address)
        finally:
            with zone.lock:
                zone.in_flight -= 1


class LoopbackDns:
    """``with LoopbackDns(zone) as dns: dns.address`` → ``"127.0.0.1:PORT"``."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.zone = zone  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> LoopbackDns:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
