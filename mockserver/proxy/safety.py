"""What the proxy forwards: every method to the proven fake (or with ``--allow-writes``), else only
GET, HEAD and OPTIONS. The one place the proxy asks whether the target is the fake: the identity
handshake (:mod:`mockserver.identity`) and the contract runner's policy (:mod:`mockserver.contract.safety`)."""

from __future__ import annotations

from mockserver.contract.safety import Policy, Target, decide_policy, parse_target

__all__ = ["Policy", "Target", "forwarding_policy", "parse_target"]


def forwarding_policy(target: Target, *, allow_writes: bool, timeout: float = 5.0) -> Policy:
    """The policy for ``target``; its ``reason`` says why (for the banner)."""
    if allow_writes:
        return Policy(unrestricted=True, reason="--allow-writes: every method is forwarded")
    from mockserver.identity import Proof, prove

    proof = prove(target.scheme, target.host, target.port, timeout=timeout) if target.is_loopback else Proof(False, "")
    return decide_policy(target, customer_id=None, user_ids=(), read_only=False, allow_writes=False,
                         allow_delete=False, proven=proof.ok, why=proof.reason)
