"""The Schemathesis side of a contract run: the project's config plus the run's settings, and the
schema of the spec with the operations the safety policy allows (also what ``drift`` generates from)."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from mockserver.contract.behaviour import BEHAVIOUR_CHECKS
from mockserver.contract.plan import PHASES, ContractOptions, ContractPlan


def build_config(plan: ContractPlan, options: ContractOptions):
    """The project's config file, plus what this run needs. Returns a ``SchemathesisConfig``."""
    from schemathesis.config import SchemathesisConfig

    data = tomllib.loads(plan.config_file.read_text(encoding="utf-8"))
    parameters = dict(data.get("parameters", {}))
    parameters["path.customerId"] = plan.customer_id
    if plan.user_ids:
        parameters["path.userId"] = plan.user_ids[0]
    phases = dict(data.get("phases", {}))
    for phase in PHASES:
        section = dict(phases.get(phase, {}))
        section["enabled"] = phase in options.phases
        phases[phase] = section
    if not plan.policy.unrestricted:
        # Schemathesis' coverage phase probes undocumented methods (PUT, POST, DELETE, TRACE, ...)
        # to see a 405: not on a target where only some methods may be sent.
        phases["coverage"] = {**phases["coverage"], "unexpected-methods": []}
    generation = {**data.get("generation", {}), "max-examples": options.max_examples, "database": "none"}
    data.update(
        {
            "base-url": plan.target.base,
            "parameters": parameters,
            "phases": phases,
            "generation": generation,
            "workers": 1,
            # Keep testing an operation after its first failure: the report is a table of every
            # operation and check, and one violation must not hide another.
            "continue-on-failure": True,
            "request-timeout": options.request_timeout,
            # No replay of requests stored by earlier runs: each run sends only what it generates.
            "cache": {"enabled": False},
        }
    )
    # TLS: --cacert, --insecure, --cert/--key (mockserver.remote.tls).
    data.update(plan.tls.schemathesis_options())
    if plan.token:
        data["headers"] = {**data.get("headers", {}), "Authorization": f"Bearer {plan.token}"}
    if plan.rate_limit:
        data["rate-limit"] = plan.rate_limit
    if options.seed is not None:
        data["seed"] = options.seed
    if options.max_failures is not None:
        data["max-failures"] = options.max_failures
    config = SchemathesisConfig.from_dict(data)
    included = [name for name in plan.included_checks if name not in BEHAVIOUR_CHECKS]
    if not included:  # only behavioural checks asked for: Schemathesis still checks server errors
        included = ["not_a_server_error"]
    excluded = [name for name in plan.excluded_checks if name not in BEHAVIOUR_CHECKS]
    config.projects.override.checks.update(included_check_names=included, excluded_check_names=excluded or None)
    return config


def load_schema(plan: ContractPlan, config):
    """The Schemathesis schema of the run: the spec (with :func:`with_read_after_delete_links`)
    under ``config``, without the operations whose method the policy does not allow."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(with_read_after_delete_links(load_spec(plan.spec_file)), config=config)
    excluded = [m for m in ("PATCH", "DELETE", "PUT", "POST") if m not in plan.policy.allowed_methods()]
    if not plan.policy.unrestricted and excluded:
        schema = schema.exclude(method=excluded)
    return schema


def load_spec(path: Path) -> dict[str, Any]:
    """The spec file as a dict."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def with_read_after_delete_links(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec, plus a link from each DELETE's 2xx answer to the GET of the same path.

    The contract says a deleted user answers 404 afterwards, but declares no link from
    ``delete_user`` to ``get_user``; without one, Schemathesis' stateful phase reaches
    "DELETE, then GET the same user" (what ``use_after_free`` needs) only by chance. Added in
    memory, only where the spec has no such link; the file is not changed.
    """
    spec = copy.deepcopy(spec)
    paths = spec.get("paths", {})
    for path, item in paths.items():
        delete, get = item.get("delete"), item.get("get")
        if not delete or not get or "operationId" not in get:
            continue
        parameters = re.findall(r"{([^}]+)}", path)
        for status, response in delete.get("responses", {}).items():
            if not str(status).startswith("2") or "$ref" in response:
                continue
            links = response.setdefault("links", {})
            if any(link.get("operationId") == get["operationId"] for link in links.values()):
                continue
            links["ReadAfterDelete"] = {
                "operationId": get["operationId"],
                "description": "Added by the contract runner: the deleted resource is gone.",
                "parameters": {name: f"$request.path.{name}" for name in parameters},
            }
    return spec
