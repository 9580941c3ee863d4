"""The format checks and error wording shared by request and fixture validation: no HTTP."""

from __future__ import annotations

import pytest
from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.server.validation import fast_check_for
from mockserver.spec import schemas

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
ADDRESSES = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(rf"{ATEXT}{{1,30}}(\.{ATEXT}{{1,30}}){{0,3}}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True), min_size=1, max_size=4),
    st.sampled_from(["example", "test", "com", "io", "law", "co", "local", "onion", "arpa", "invalid", "xn"]),
)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(ADDRESSES)
def test_every_address_the_fast_path_accepts_is_a_valid_address(address):
    if schemas.FAST_EMAIL.match(address):
        validate_email(address, check_deliverability=False, test_environment=True)


@pytest.mark.parametrize("address", [
    "jane.doe@acme.example", "a+b@x.test", "o'neil@law.firm.co.uk", "JANE@ACME.EXAMPLE", "x_y-z@sub.domain.io",
])
def test_common_addresses_take_the_fast_path(address):
    assert schemas.FAST_EMAIL.match(address)
    assert schemas.format_error("email", address) is None


@pytest.mark.parametrize("address", [
    "plain", "a@b", "a@@b.example", "@acme.example", "jane@", "jane doe@acme.example", "a..b@acme.example",
    ".a@acme.example", "a@-acme.example", "a@acme.local", "a@acme.invalid", '"quoted local"@acme.example',
    "a@acme.example\n", "a@acme.123",
])
def test_invalid_addresses_are_rejected_with_a_reason(address):
    assert schemas.format_error("email", address)


@pytest.mark.parametrize("address", ["x" * 65 + "@acme.example", "josé@acme.example", "a@xn--bcher-kva.example"])
def test_addresses_outside_the_fast_path_go_to_email_validator(address):
    assert not schemas.FAST_EMAIL.match(address)
    assert schemas.format_error("email", address) is None


@pytest.mark.parametrize("value,ok", [
    ("2022-08-12T20:44:48Z", True), ("2022-08-12T20:44:48.123Z", True), ("2022-08-12T20:44:48+02:00", True),
    ("2022-08-12", False), ("2022-13-12T20:44:48Z", False), ("yesterday", False), ("2022-08-12T20:44:48Z\n", False),
])
def test_date_time(value, ok):
    assert (schemas.format_error("date-time", value) is None) is ok


# -- the fast check of request bodies ----------------------------------------------------------

BODY_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=30),
    st.sampled_from(["jane.doe@acme.example", "not-an-email", "a@b", "6500000000000000000001a2", "ZZ"]),
    st.lists(st.sampled_from(["6500000000000000000001a2", "6500000000000000000003a1", "nope", 7]), max_size=3),
)


@pytest.mark.parametrize("version", ["v1", "v2"])
@settings(derandomize=True, database=None, deadline=None, max_examples=300, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_fast_body_check_accepts_only_what_the_validator_accepts(version, data):
    """validation.fast_check_for (Rust structure + the project's format checks) says yes only when the
    compiled validator finds no problem, and finds the same bodies good."""
    spec = schemas.load_spec()
    operation = spec["paths"][f"/api/{version}/customers/{{customerId}}/users/{{userId}}"]["patch"]
    schema = schemas.to_json_schema(operation["requestBody"]["content"]["application/json"]["schema"], spec)
    fast = fast_check_for(schema)
    assert fast is not None
    names = sorted(schema["properties"]) + ["unknown"]
    mostly_right = st.fixed_dictionaries({}, optional={
        "email": st.sampled_from(["jane.doe@acme.example", "not-an-email", "a@b", "x@acme.example", ""]),
        "firstName": st.text(max_size=10),
        "roleIds": st.lists(st.sampled_from(["6500000000000000000003a1", "nope"]), max_size=2),
    })
    body = data.draw(st.one_of(mostly_right, st.dictionaries(st.sampled_from(names), BODY_VALUES, max_size=4),
                               BODY_VALUES))
    slow_ok = next(iter(schemas.validator(schemas.to_json_schema(schema, {})).iter_errors(body)), None) is None
    assert fast(body) == slow_ok
