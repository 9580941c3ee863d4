"""Typed clients accept the fake's real answers: openapi-typescript's types of the spec type-check them.

A TypeScript frontend generates its types from ``openapi/users.yaml``; a bare ``type: object`` there becomes
``Record<string, never>`` and rejects real answers such as ``{"canEditTime": true}``. This test renders real
answers of the fake (a list with a Super Delegate and delegates, one user) into a TypeScript file typed with
the generated ``components`` and runs the compiler in strict mode. It needs ``npx`` (Node.js), as the
Spectral lint in CI does; the tools' versions are pinned.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import INTEGRATION, JANE_AUTH, ROOT, users_url

OPENAPI_TYPESCRIPT = "openapi-typescript@7.13.0"
TYPESCRIPT = "typescript@5.9.3"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("npx") is None, reason="needs npx (Node.js) for openapi-typescript")]


def _npx(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["npx", "--yes", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_real_answers_type_check_against_generated_types(client, tmp_path):
    listing = client.get(f"{users_url()}?{INTEGRATION}", headers=JANE_AUTH)
    assert listing.status_code == 200
    users = listing.json()
    # The answer must hold what the bare objects used to reject, or the test proves nothing.
    assert any(user.get("superDelegatePermissions") for user in users)
    assert any(delegate.get("permissions") is not None for user in users for delegate in user.get("delegates", []))

    generated = _npx(OPENAPI_TYPESCRIPT, str(ROOT / "openapi" / "users.yaml"), "-o", "users.d.ts", cwd=tmp_path)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (tmp_path / "answers.ts").write_text(
        'import type { components } from "./users";\n'
        'type User = components["schemas"]["User"];\n'
        f"export const users: User[] = {json.dumps(users, indent=1)};\n"
    )
    checked = _npx("-p", TYPESCRIPT, "tsc", "--noEmit", "--strict", "answers.ts", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
