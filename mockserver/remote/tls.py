"""TLS settings of a remote target: a private CA bundle, no verification, a client certificate.

One place decides what a run trusts; each HTTP stack (requests, httpx, Schemathesis) reads it from here.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

INSECURE_WARNING = "warning: --insecure: the target's TLS certificate is not verified; anyone on the path can read and change this run's traffic"


class TLSConfigError(ValueError):
    """A TLS option that cannot be used (a missing or unreadable file, --key without --cert)."""


@dataclass(frozen=True)
class TLSSettings:
    cacert: Path | None = None
    insecure: bool = False
    cert: Path | None = None
    key: Path | None = None

    def check(self) -> TLSSettings:
        """Raise TLSConfigError naming the first option that cannot be used."""
        if self.key is not None and self.cert is None:
            raise TLSConfigError("--key needs --cert (the client certificate it belongs to)")
        if self.insecure and self.cacert is not None:
            raise TLSConfigError("--insecure and --cacert contradict each other: choose one")
        for flag, path in (("--cacert", self.cacert), ("--cert", self.cert), ("--key", self.key)):
            if path is not None and not Path(path).is_file():
                raise TLSConfigError(f"{flag} {path}: no such file")
        if self.cacert is not None:
            try:
                ssl.create_default_context(cafile=str(self.cacert))
            except (ssl.SSLError, OSError) as error:
                raise TLSConfigError(f"--cacert {self.cacert}: not a PEM certificate bundle ({error})") from None
        if self.cert is not None:
            try:
                ssl.create_default_context().load_cert_chain(str(self.cert), str(self.key) if self.key else None)
            except (ssl.SSLError, OSError) as error:
                raise TLSConfigError(f"--cert {self.cert}: cannot load the client certificate ({error})") from None
        return self

    def describe(self) -> str:
        """The header's TLS line ("" with the defaults: the system's CAs, no client certificate)."""
        parts = []
        if self.insecure:
            parts.append("the certificate is NOT verified (--insecure)")
        elif self.cacert is not None:
            parts.append(f"certificates signed by {self.cacert}")
        if self.cert is not None:
            parts.append(f"client certificate {self.cert}")
        return "; ".join(parts)

    @property
    def verify(self) -> bool | str:
        """requests' and Schemathesis' ``verify``: False, a CA bundle path, or True."""
        if self.insecure:
            return False
        if self.cacert is not None:
            return str(self.cacert)
        return True

    @property
    def client_cert(self) -> str | tuple[str, str] | None:
        """requests' ``cert``."""
        if self.cert is None:
            return None
        return (str(self.cert), str(self.key)) if self.key is not None else str(self.cert)

    def requests_kwargs(self) -> dict[str, Any]:
        return {"verify": self.verify, "cert": self.client_cert}

    def ssl_context(self) -> ssl.SSLContext:
        """An SSLContext for stacks that take one (httpx, asyncio)."""
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=str(self.cacert) if self.cacert else None)
        if self.cert is not None:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        return context

    def schemathesis_options(self) -> dict[str, Any]:
        """The ``tls-verify``/``request-cert``/``request-cert-key`` entries of a Schemathesis config."""
        options: dict[str, Any] = {"tls-verify": self.verify}
        if self.cert is not None:
            options["request-cert"] = str(self.cert)
            if self.key is not None:
                options["request-cert-key"] = str(self.key)
        return options


@contextmanager
def insecure_announced(settings: TLSSettings, err: IO[str]) -> Iterator[None]:
    """With ``--insecure``: :data:`INSECURE_WARNING` once on ``err``, and urllib3's warning about every
    unverified request held back for the duration (it would repeat the same thing)."""
    if not settings.insecure:
        yield
        return
    from urllib3.exceptions import InsecureRequestWarning

    err.write(INSECURE_WARNING + "\n")
    err.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        yield


# OpenSSL's names for the alerts a server sends about the client's certificate.
_CERTIFICATE_REQUIRED = ("CERTIFICATE_REQUIRED",)
_CLIENT_CERTIFICATE_REFUSED = ("ALERT_BAD_CERTIFICATE", "ALERT_UNKNOWN_CA", "ALERT_CERTIFICATE_UNKNOWN",
                               "ALERT_CERTIFICATE_EXPIRED", "ALERT_CERTIFICATE_REVOKED", "ALERT_ACCESS_DENIED",
                               "ALERT_UNSUPPORTED_CERTIFICATE")


def certificate_problem(error: BaseException) -> str | None:
    """One line for a TLS certificate that failed: the server's (untrusted, expired, wrong host name),
    or the client's (required but not sent, refused by the server)."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            code, message = current.verify_code, current.verify_message or str(current)
            if code == 10:
                return f"TLS: the server's certificate has expired ({message})"
            if code == 62 or "Hostname mismatch" in message:
                return f"TLS: the server's certificate is for another host name ({message})"
            return f"TLS: the server's certificate is not trusted ({message})"
        if isinstance(current, ssl.SSLError) and isinstance(current.reason, str):
            if current.reason.endswith(_CERTIFICATE_REQUIRED):
                return "TLS: the server requires a client certificate (pass --cert FILE, and --key FILE)"
            if current.reason.endswith(_CLIENT_CERTIFICATE_REFUSED):
                return f"TLS: the server refused the client certificate ({current.reason.lower()})"
        reason = getattr(current, "reason", None)
        stack += [current.__cause__, current.__context__, reason,
                  *[arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]]
    return None


def closed_after_handshake(settings: TLSSettings) -> str:
    """Why an https target may close the connection before any answer, when no client certificate was sent."""
    hint = "" if settings.cert is not None else " (if it wants a client certificate: --cert FILE, and --key FILE)"
    return f"TLS: the server closed the connection without an answer{hint}"
