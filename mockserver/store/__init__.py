"""The state of the fake: the in-memory backend (``memory``, with its compact records in ``index`` and the
kept answers in ``render``), the fixture files (``fixtures``, ``generate``) and ``--state-file``
durability (``persistence``). Imports ``core`` and ``spec`` only; nothing here knows HTTP routing.
"""
