"""Replay: the requests an app really made (a HAR file), sent again to a deployment and to the fake.

``mockserver replay FILE URL`` (:mod:`.command`) reads the HAR file (:mod:`.har`), keeps the
requests to the Users API and rewrites them for the run (:mod:`.plan`), sends them in order to
both sides and compares every pair of answers as drift does (:mod:`.run`, built on
:mod:`mockserver.drift`), and reports per request (:mod:`.report`). Nothing heavy is imported
here: the ``mockserver`` command registers ``replay`` without loading it.
"""
