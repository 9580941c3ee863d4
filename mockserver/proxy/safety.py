"""What the proxy forwards: every method to the proven fake (or with ``--allow-writes``), else only
GET, HEAD and OPTIONS. The one place the proxy asks whether the target is the fake: the remote
commands' safety decision (:func:`mockserver.remote.safety.target_policy`)."""

from __future__ import annotations

from mockserver.remote.safety import Policy, Target, parse_target, target_policy

__all__ = ["Policy", "Target", "forwarding_policy", "parse_target"]


def forwarding_policy(target: Target, *, allow_writes: bool, timeout: float = 5.0) -> Policy:
    """The policy for ``target``; its ``reason`` says why (for the banner). ``--allow-writes``
    forwards every method for every user: the proxy sends only what the client sent."""
    if allow_writes:
        return Policy(unrestricted=True, reason="--allow-writes: every method is forwarded")
    return target_policy(target, timeout=timeout)
