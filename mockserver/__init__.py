"""A stateful mock and contract-testing server for the Identity Users API."""

__version__ = "0.1.0"
