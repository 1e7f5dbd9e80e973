"""Outbound HTTP calls to URLs that people configure (chat alerts, status callbacks).

A URL typed into a setting or a form must not become a way to reach the machines behind the
firewall: the host is resolved and every address it resolves to is checked — loopback, private,
link-local, reserved, multicast and other non-global addresses are refused — unless
``OUTBOUND_ALLOW_PRIVATE_ADDRESSES`` is on (a private chat server, tests). The check runs again on
the address the connection is actually opened to, so a name that resolves differently the second
time (DNS rebinding) is refused too. Redirects are not followed and proxies from the environment
are not used: the request goes straight to the checked address.

Callers get an ``OutboundResult``; nothing here raises. Refusals and failures are logged."""

import http.client
import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

USER_AGENT = "releasemgmt/1"


class OutboundRefused(OSError):
    """The URL's host resolves to an address outbound calls may not reach."""


@dataclass(frozen=True)
class OutboundResult:
    status: int | None = None
    error: str = ""
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def address_allowed(address: str) -> bool:
    """True for a public (globally routable, unicast) address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def _allow_private() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE_ADDRESSES", False))


def _resolve_checked(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for ``host``, refused when any address it gives is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OSError(f"cannot resolve {host}: {error.strerror or error}") from None
    if not _allow_private():
        for info in infos:
            address = info[4][0]
            if not address_allowed(address):
                raise OutboundRefused(
                    f"{host} resolves to {address}, a loopback, private, link-local or reserved "
                    "address (set OUTBOUND_ALLOW_PRIVATE_ADDRESSES to allow it)"
                )
    return infos


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not be called (not http(s), no host, a non-public address), or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs can be called"
    if not parts.hostname:
        return "the URL has no host"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the URL's port is not a number"
    try:
        _resolve_checked(parts.hostname, port)
    except OutboundRefused as error:
        return str(error)
    except OSError:
        return None  # not resolvable now: the call itself reports that as a failure
    return None


def _guarded_create_connection(
    address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None
):
    """``socket.create_connection`` that connects only to checked addresses."""
    host, port = address
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in _resolve_checked(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last_error = error
    raise last_error or OSError(f"cannot connect to {host}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is answered as an error, never followed


def _opener() -> urllib.request.OpenerDirector:
    handlers = [urllib.request.ProxyHandler({}), _NoRedirect()]
    if not _allow_private():
        handlers += [_GuardedHTTPHandler(), _GuardedHTTPSHandler()]
    return urllib.request.build_opener(*handlers)


def post_json(
    url: str, payload, *, timeout: float, headers: dict[str, str] | None = None
) -> OutboundResult:
    """POST ``payload`` as JSON to ``url`` within ``timeout`` seconds. Refused (logged, not
    raised) for a non-http(s) URL or a host with a non-public address."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return post_body(url, body, timeout=timeout, headers=headers)


def post_body(
    url: str, body: bytes, *, timeout: float, headers: dict[str, str] | None = None
) -> OutboundResult:
    """POST the bytes ``body`` (JSON unless ``headers`` say otherwise) to ``url`` within
    ``timeout`` seconds: for a caller that signed exactly these bytes (status callbacks). The
    same refusals as ``post_json``."""
    refusal = url_refusal(url)
    if refusal is not None:
        logger.warning("Outbound call to %s refused: %s", _shown(url), refusal)
        return OutboundResult(error=f"Refused: {refusal}.", refused=True)
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read(65536)
            return OutboundResult(status=response.status)
    except urllib.error.HTTPError as error:
        logger.warning("Outbound call to %s answered HTTP %s", _shown(url), error.code)
        return OutboundResult(status=error.code, error=f"HTTP {error.code} {error.reason}")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, OutboundRefused):
            logger.warning("Outbound call to %s refused: %s", _shown(url), reason)
            return OutboundResult(error=f"Refused: {reason}.", refused=True)
        logger.warning("Outbound call to %s failed: %s", _shown(url), reason)
        return OutboundResult(error=f"{type(reason).__name__}: {reason}")
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        logger.warning("Outbound call to %s failed: %s", _shown(url), error)
        return OutboundResult(error=f"{type(error).__name__}: {error}")


def _shown(url: str) -> str:
    """The URL for a log line: scheme, host and port only (webhook paths carry secrets)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…"
