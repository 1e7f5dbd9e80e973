"""Outbound calls to configured URLs: a public address only (unless allowed), no redirects, a
timeout, and never an exception for the caller."""

import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from releasemgmt.core import outbound


@contextmanager
def local_server(status: int = 200, delay: float = 0.0, headers: dict | None = None):
    """A throwaway HTTP server on 127.0.0.1 recording what is POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            received.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length).decode(),
                }
            )
            time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (the timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.10", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 (an address under test, not a bind)
        ("240.0.0.1", False),  # reserved
        ("224.0.0.1", False),  # multicast
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_only_public_addresses_are_allowed(address, allowed):
    assert outbound.address_allowed(address) is allowed


def test_a_loopback_url_is_refused_by_default_and_nothing_is_sent(settings, caplog):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    with local_server() as (url, received):
        result = outbound.post_json(f"{url}/hook", {"text": "hi"}, timeout=2)
    assert result.refused and not result.ok and result.status is None
    assert "127.0.0.1" in result.error and "OUTBOUND_ALLOW_PRIVATE_ADDRESSES" in result.error
    assert received == []
    assert "refused" in caplog.text


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "169.254.169.254"])
def test_names_and_literals_of_private_hosts_are_refused(settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    assert outbound.url_refusal(f"http://{host}:9/x") is not None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host_can_be_called(url):
    result = outbound.post_json(url, {}, timeout=1)
    assert result.refused and not result.ok


def test_with_private_addresses_allowed_the_json_is_posted(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with local_server() as (url, received):
        result = outbound.post_json(f"{url}/hook", {"text": "Back-out required"}, timeout=2)
    assert result.ok and result.status == 200 and result.error == ""
    (request,) = received
    assert request["path"] == "/hook"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"text": "Back-out required"}


def test_a_redirect_is_not_followed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with local_server(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"}) as (
        url,
        received,
    ):
        result = outbound.post_json(url, {}, timeout=2)
    assert (result.status, result.ok) == (302, False)
    assert len(received) == 1


def test_a_slow_server_times_out_without_raising(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with local_server(delay=1.5) as (url, _received):
        started = time.monotonic()
        result = outbound.post_json(url, {}, timeout=0.3)
    assert not result.ok and result.error
    assert time.monotonic() - started < 1.4


def test_an_error_answer_is_reported_not_raised(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with local_server(status=500) as (url, _received):
        result = outbound.post_json(url, {}, timeout=2)
    assert (result.status, result.ok) == (500, False) and "500" in result.error


def test_a_name_that_resolves_differently_at_connect_time_is_refused(settings, monkeypatch):
    # given a name that first resolves to a public address, then to loopback (DNS rebinding)
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    answers = iter(["93.184.216.34", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    connected = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connected.append(addr))

    # when it is called
    result = outbound.post_json("http://rebind.example/hook", {}, timeout=1)

    # then the connection is refused before any socket connects
    assert result.refused and "127.0.0.1" in result.error
    assert connected == []
