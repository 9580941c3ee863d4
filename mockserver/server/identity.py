"""How the contract, record and drift runners recognise this fake (and nothing else) as the fake.

Every fake built by :func:`mockserver.app.build.build_app` has an instance id and a random 32-byte
secret. ``GET /__mockserver/identity?challenge=<hex>`` answers ``{"instance": id, "proof": mac}``
where ``mac`` is HMAC-SHA256(secret, challenge + the client address:port + the server
address:port of the TCP connection the fake accepted). The runner picks a fresh challenge, opens
its own connection, and checks the MAC with the secret, which it finds in this process (the test
suite, drift's own fake) or in a per-user registry file written by ``mockserver`` when it serves
(``$MOCKSERVER_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/users-api-mockserver``, else
``~/.cache/users-api-mockserver``; folder 0700, files 0600, removed at a clean stop).

A deployment cannot pass by accident: it has no secret on this machine. A relay, proxy or
port-forward in front of a fake cannot pass either: its own connection to the fake has other
ports, so the MAC the fake computes is not the one the runner expects.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import socket
import weakref
from dataclasses import dataclass
from pathlib import Path

from mockserver.core.asgi import send_whole
from mockserver.core.problems import send_problem

PATH = "/__mockserver/identity"
_HEX = re.compile(r"^[0-9a-f]{32,128}$")
_ID = re.compile(r"^[0-9a-f]{32}$")
_LOCAL: weakref.WeakValueDictionary[str, Instance] = weakref.WeakValueDictionary()


class Instance:
    def __init__(self, admin_token: str | None = None):
        self.id = secrets.token_hex(16)
        self.secret = secrets.token_bytes(32)
        # Kept beside the secret (same private file): a runner that proved this fake drops the
        # session it worked in at the end of its run.
        self.admin_token = admin_token
        _LOCAL[self.id] = self


def _endpoint(address) -> str:
    if not address:
        return "-"
    host, port = address[0], address[1]
    import ipaddress

    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        host = str(mapped or ip)
    except ValueError:
        pass
    return f"{host}|{port}"


def mac(secret: bytes, challenge: str, client, server) -> str:
    message = f"users-api-mockserver identity v1\n{challenge}\n{_endpoint(client)}\n{_endpoint(server)}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


class IdentityMiddleware:
    """ASGI: answers ``GET /__mockserver/identity``; everything else goes on."""

    def __init__(self, app, instance: Instance):
        self.app, self.instance = app, instance

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") != PATH:
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qs

        challenge = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("challenge") or [""])[0]
        if scope["method"] != "GET":
            await send_problem(send, 405, "only GET", headers=[("Allow", "GET")])
            return
        if not _HEX.match(challenge):
            await send_problem(send, 400, "challenge: 32-128 hex characters")
            return
        body = {"service": "users-api-mockserver", "instance": self.instance.id,
                "proof": mac(self.instance.secret, challenge, scope.get("client"), scope.get("server"))}
        await send_whole(send, 200, json.dumps(body).encode(), content_type="application/json")


# -- the registry of served instances ----------------------------------------------------------


def registry_dir() -> Path:
    if os.environ.get("MOCKSERVER_RUNTIME_DIR"):
        return Path(os.environ["MOCKSERVER_RUNTIME_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "users-api-mockserver"
    return Path.home() / ".cache" / "users-api-mockserver"


def _private_dir(create: bool) -> Path:
    folder = registry_dir()
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{folder} is not a private folder of this user (mode 0700)")
    return folder


@contextlib.contextmanager
def published(instance: Instance):
    """The instance's secret in the registry for the duration (a warning, not an error, if it cannot be)."""
    path = None
    try:
        folder = _private_dir(create=True)
        path = folder / f"{instance.id}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"instance": instance.id, "secret": instance.secret.hex(), "pid": os.getpid(),
                       "adminToken": instance.admin_token}, handle)
    except OSError as error:
        path = None
        import sys

        print(f"mockserver: note: cannot register this fake's identity ({error}); contract and drift will "
              "treat it as any other target (read-only unless told otherwise)", file=sys.stderr)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def _secret_of(instance_id: str) -> bytes | None:
    entry = _entry_of(instance_id)
    try:
        return bytes.fromhex(entry["secret"]) if entry is not None else None
    except (ValueError, KeyError, TypeError):
        return None


def admin_token_of(instance_id: str) -> str | None:
    """The admin token of a fake this machine serves (None: unknown, or it has no admin API)."""
    entry = _entry_of(instance_id)
    token = entry.get("adminToken") if entry is not None else None
    return token if isinstance(token, str) and token else None


def _entry_of(instance_id: str) -> dict | None:
    if not _ID.match(instance_id or ""):
        return None
    local = _LOCAL.get(instance_id)
    if local is not None:
        return {"secret": local.secret.hex(), "adminToken": local.admin_token}
    try:
        folder = _private_dir(create=False)
        fd = os.open(folder / f"{instance_id}.json", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                return None
            entry = json.load(handle)
            return entry if isinstance(entry, dict) else None
    except (OSError, ValueError):
        return None


# -- the runner's side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    ok: bool
    reason: str
    instance: str = ""  # the proven fake's instance id


def prove(scheme: str, host: str, port: int | None, timeout: float = 5.0) -> Proof:
    """Did the server at ``scheme://host:port`` prove it is a fake of this machine, on a connection of ours?"""
    if scheme != "http":
        return Proof(False, "an https target is never the fake (it serves plain http)")
    import requests.utils

    shown = f"[{host}]" if ":" in host else host
    origin = f"http://{shown}" + (f":{port}" if port else "")
    proxies = requests.utils.get_environ_proxies(origin)
    if proxies.get("http") or proxies.get("all"):
        return Proof(False, "the proxy environment variables send requests to it through a proxy "
                            "(set NO_PROXY=127.0.0.1,localhost to reach the fake directly)")
    port = port or 80
    try:
        addresses = {info[4][:2] for info in socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)}
    except OSError as error:
        return Proof(False, f"cannot resolve {host}: {error}")
    answered, instance = 0, ""
    for address in sorted(addresses):
        result = _prove_one(address, host, timeout)
        if result is None:
            continue  # nothing listens there
        if not result.ok:
            return result
        answered += 1
        instance = result.instance
    if not answered:
        return Proof(False, "nothing answered the identity check")
    return Proof(True, "the target proved it is this machine's fake (identity handshake)", instance)


def _prove_one(address, host: str, timeout: float) -> Proof | None:
    challenge = secrets.token_hex(32)
    conn = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError:
            return None
        local, peer = conn.sock.getsockname(), conn.sock.getpeername()
        conn.putrequest("GET", f"{PATH}?challenge={challenge}", skip_host=True)
        conn.putheader("Host", f"[{host}]" if ":" in host and not host.startswith("[") else host)
        conn.endheaders()
        response = conn.getresponse()
        data = response.read(4096)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        return Proof(False, f"the identity check failed: {type(error).__name__}")
    finally:
        conn.close()
    if status != 200:
        return Proof(False, f"it answered the identity check with {status}: not the fake")
    try:
        answer = json.loads(data)
        instance, proof = str(answer["instance"]), str(answer["proof"])
    except (ValueError, KeyError, TypeError):
        return Proof(False, "its identity answer is not the fake's")
    if not _ID.match(instance):
        return Proof(False, "its identity answer is not the fake's")
    secret = _secret_of(instance)
    if secret is None:
        return Proof(False, "it names a fake this machine does not know (one in a container or on another machine?)")
    if not hmac.compare_digest(mac(secret, challenge, local, peer), proof):
        return Proof(False, "its proof was not made on this connection: a relay, proxy or port-forward is in front of it")
    return Proof(True, "proved", instance)
