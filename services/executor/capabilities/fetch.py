"""Guests' outbound HTTPS, for modules that declare the hosts they may reach.

The seed's guests have no network; this opens one narrow door, off unless a module lists hosts
in its ``outlayer.fetch`` custom section (``manifest.declared_fetch_hosts``), and then only:
- ``https`` to a host on that list (``api.example.com``, or ``*.example.com`` for its
  subdomains), TLS verified against the platform's CA bundle;
- to public addresses: the name is resolved here and every address it gives is checked
  (private, loopback, link-local, multicast and reserved ranges refused), then the connection
  goes to the checked address itself, so a second lookup (DNS rebinding) cannot move it;
- redirects followed here, each one checked again in the same way, at most
  ``fetch_max_redirects``;
- within the run's caps on requests and bytes, and the run's wall clock.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from outlayer.config import GuestCapabilitySettings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from services.executor._guest_abi import HostStatus
from services.executor.capabilities.errors import HostCallError

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Set by the platform, never by a guest: they would let it steer the connection or the proxy.
_HOP_HEADERS = frozenset({"host", "connection", "content-length", "transfer-encoding",
                          "upgrade", "proxy-authorization", "proxy-connection", "te",
                          "trailer", "keep-alive"})  # fmt: skip
USER_AGENT = "OutLayer-guest/1"
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class Refused(OutlayerError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.PERMISSION_DENIED, message)


@dataclass(frozen=True)
class FetchAnswer:
    data: bytes  # the JSON answer the guest reads
    bytes_used: int  # sent and received, counted against the run's cap


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    path: str  # with its query
    address: str  # the checked address the connection goes to


class Fetcher:
    def __init__(
        self,
        allowed_hosts: Sequence[str],
        settings: GuestCapabilitySettings,
        resolver: Resolver = socket.getaddrinfo,
    ) -> None:
        self._allowed = [host.lower().rstrip(".") for host in allowed_hosts]
        self._settings = settings
        self._resolve = resolver
        self._exempt = [ipaddress.ip_network(net) for net in settings.fetch_allow_networks]
        self._ca_file = str(settings.fetch_ca_file) if settings.fetch_ca_file else certifi.where()

    def fetch(self, request: bytes, timeout: float, max_bytes: int) -> FetchAnswer:
        method, url, headers, body = _parse_request(request)
        used = len(body)
        if used > max_bytes:
            raise HostCallError(HostStatus.LIMIT, "the request body is over the run's byte cap")
        for _ in range(self._settings.fetch_max_redirects + 1):
            target = self._check(url)
            response = self._send(target, method, headers, body, timeout)
            try:
                data = _read_capped(response, max_bytes - used)
            finally:
                response.release_conn()
            used += len(data)
            location = response.headers.get("location")
            if response.status in REDIRECTS and location:
                url = urljoin(url, location)
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = "GET", b""
                continue
            answer = {"status": response.status, "url": url,
                      "headers": {k.lower(): v for k, v in response.headers.items()},
                      "body": base64.b64encode(data).decode()}  # fmt: skip
            return FetchAnswer(json.dumps(answer).encode(), used)
        raise Refused(f"more than {self._settings.fetch_max_redirects} redirects")

    def _check(self, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise Refused(f"only https URLs may be fetched, not {url[:100]!r}")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host or parts.username or parts.password:
            raise invalid_argument(f"{url[:100]!r} has no host, or carries credentials")
        if not any(host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:]))
                   for allowed in self._allowed):  # fmt: skip
            raise Refused(f"{host} is not among the hosts this module declared: "
                          f"{', '.join(self._allowed)}")  # fmt: skip
        try:
            port = parts.port or 443
        except ValueError:
            raise invalid_argument(f"{url[:100]!r} has a bad port") from None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _Target(host, port, path, self._checked_address(host, port))

    def _checked_address(self, host: str, port: int) -> str:
        try:
            found = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"{host} does not resolve: {exc}") from None
        addresses = [str(entry[4][0]) for entry in found]
        if not addresses:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"{host} does not resolve")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            if not _public(address) and not any(address in net for net in self._exempt):
                raise Refused(f"{host} resolves to {address}, a private, loopback or reserved "
                              "address: guests may reach only public ones")  # fmt: skip
        return addresses[0]

    def _send(self, target: _Target, method: str, headers: dict[str, str], body: bytes,
              timeout: float) -> urllib3.BaseHTTPResponse:  # fmt: skip
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host,
            assert_hostname=target.host, cert_reqs=ssl.CERT_REQUIRED, ca_certs=self._ca_file,
            retries=False, timeout=urllib3.Timeout(total=min(timeout,
                                                  self._settings.fetch_timeout_seconds)),
        )  # fmt: skip
        sent = {**headers, "host": target.host if target.port == 443 else
                f"{target.host}:{target.port}", "user-agent": USER_AGENT}  # fmt: skip
        try:
            return pool.urlopen(method, target.path, body=body or None, headers=sent,
                                redirect=False, preload_content=False)  # fmt: skip
        except urllib3.exceptions.SSLError as exc:
            raise Refused(f"TLS to {target.host} failed verification: {exc}") from None
        except urllib3.exceptions.TimeoutError:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE, f"{target.host} did not answer in time"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise OutlayerError(ErrorCode.UNAVAILABLE, f"{target.host}: {exc}") from None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global alone lets multicast through.
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def _parse_request(request: bytes) -> tuple[str, str, dict[str, str], bytes]:
    try:
        parsed = json.loads(request)
    except (UnicodeDecodeError, ValueError):
        raise invalid_argument("a fetch request is a JSON object (docs/guest-abi.md)") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("url"), str):
        raise invalid_argument('a fetch request is {"method", "url", "headers", "body"}')
    method = str(parsed.get("method", "GET")).upper()
    if method not in METHODS:
        raise invalid_argument(f"method {method[:20]!r} is not one of {', '.join(sorted(METHODS))}")
    headers = parsed.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise invalid_argument("headers are an object of strings")
    kept = {k.lower(): v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
    if any("\r" in k + v or "\n" in k + v for k, v in kept.items()):
        raise invalid_argument("a header holds a line break")
    try:
        body = base64.b64decode(parsed.get("body") or "", validate=True)
    except (binascii.Error, TypeError):
        raise invalid_argument("body is base64") from None
    return method, parsed["url"], kept, body


def _read_capped(response: urllib3.BaseHTTPResponse, room: int) -> bytes:
    data = bytearray()
    for chunk in response.stream(64 * 1024):
        data += chunk
        if len(data) > room:
            raise HostCallError(HostStatus.LIMIT, "the answer is over the run's byte cap")
    return bytes(data)
