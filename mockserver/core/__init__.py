"""The bottom layer: what every other layer may use and which knows nothing of the Users API.

Raw ASGI pieces (``asgi``), the one problem+json builder and sender (``problems``), the one durable file
write (``files``), the one text policy (``text``), the one loopback rule (``loopback``) and the clock
(``clock``). Nothing here imports another part of the project.
"""
