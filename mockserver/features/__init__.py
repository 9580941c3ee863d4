"""The optional features a request may meet in front of the Users API: CORS, chaos and ``Prefer``,
scenario rules, sessions, the journal, live coverage and ``--watch``. Imports ``core``, ``spec``, ``store``
and ``server``; the admin API (``mockserver.admin``) sits on the same layer.
"""
