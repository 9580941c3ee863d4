"""``mockserver proxy URL``: a validating reverse proxy in front of a deployment (or the fake).

:mod:`.forward` forwards (streaming, unchanged but for the hop-by-hop fields); :mod:`.contract`
checks each request and answer against ``openapi/users.yaml``; :mod:`.violations` keeps and logs the
findings; :mod:`.admin` serves them; :mod:`.safety` decides which methods are forwarded;
:mod:`.app` builds it all (``build_proxy``) and :mod:`.command` is the command. Nothing heavy is
imported here: the ``mockserver`` command registers ``proxy`` without loading it.
"""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
