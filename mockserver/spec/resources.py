"""Where the files the package ships live: the contract, the bundled fixtures, the Schemathesis config.

In a wheel they are copied into the package (``mockserver/_bundled/``, see pyproject.toml); in a
source checkout or an editable install they are read from the repository's ``openapi/`` and
``fixtures/`` folders, so there is one copy of each.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # mockserver/
_BUNDLED = _PACKAGE / "_bundled"
_REPO = _PACKAGE.parent


def _find(bundled: str, in_repo: str) -> Path:
    for candidate in (_BUNDLED / bundled, _REPO / in_repo):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{in_repo} is missing from this installation of mockserver")


def spec_path() -> Path:
    """The Users API contract, ``openapi/users.yaml``."""
    return _find("users.yaml", "openapi/users.yaml")


def default_fixture_path() -> Path:
    """The bundled Acme fixtures, served when no ``--seed`` is given."""
    return _find("acme.json", "fixtures/acme.json")


def schemathesis_config_path() -> Path:
    """The project's Schemathesis configuration, ``contract/schemathesis.toml``."""
    return _find("schemathesis.toml", "contract/schemathesis.toml")
