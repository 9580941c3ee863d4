"""The format checks and error wording shared by request and fixture validation: no HTTP."""

from __future__ import annotations

import pytest
from email_validator import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import schemas

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
ADDRESSES = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(rf"{ATEXT}{{1,30}}(\.{ATEXT}{{1,30}}){{0,3}}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True), min_size=1, max_size=4),
    st.sampled_from(["example", "test", "com", "io", "law", "co", "local", "onion", "arpa", "invalid", "xn"]),
)


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
