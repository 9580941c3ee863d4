"""The request path of the Users API: the raw middleware (``middleware``), auth, request validation, the
handlers, the fast path (``hotpath``), the HTTP protocol's own errors, the runtime carried in the ASGI
scope, the target handshake (``identity``) and the last resort. Imports ``core``, ``spec`` and ``store``.
"""
