"""What the remote-target commands (contract, record, drift, and a proxy) share, through public names.

- :mod:`.safety`: the target (:func:`~.safety.parse_target`), the one safety decision
  (:func:`~.safety.target_policy`: is it this machine's fake, which methods may be sent) and the
  transport guard that enforces it on the wire (:func:`~.safety.guard_requests`).
- :mod:`.target`: the shared options (:class:`~.target.TargetOptions`), the plan made from them
  (:func:`~.target.plan_target`: token, customer, policy, rate limit, TLS, the session on the
  proven fake) and the pre-flight.
- :mod:`.client`: the runner's HTTP client, the retry rules, the rate-limit wait budget, the API's paths.
- :mod:`.baseline`: ``--baseline`` / ``--write-baseline``: known findings, keyed stably, with an expiry.
- :mod:`.tls`: ``--cacert``, ``--insecure``, ``--cert``/``--key`` for every HTTP stack, and the
  one-line certificate messages.
- :mod:`.restore`: snapshots and restores of the ``--user-id`` users.
- :mod:`.report`, :mod:`.progress`: token masking, curl lines, plain tables, report files; progress.
- :mod:`.process`: SIGTERM as Ctrl-C, deferred interrupts, an ASGI app on a free loopback port.
- :mod:`.options`, :mod:`.commands`: the shared click options, declared once, and the three commands.
"""
