"""``mockserver record URL``: one customer of a live deployment as a fixture file.

:func:`run_record` (:mod:`.runner`) reads the customer (:mod:`.capture`, GET requests only), turns
the answers into a fixture document (:mod:`.document`), optionally anonymised (:mod:`.anonymize`),
checks it with the fixture loader and writes it atomically.
"""

from mockserver.record.anonymize import ANONYMIZE_KEY_ENV, DEFAULT_ANONYMIZE_KEY, Anonymizer
from mockserver.record.capture import USER_TOKEN, RecordError, Recording, capture
from mockserver.record.document import ADMIN_TOKEN, bound_user, build_document, fixture_user, local_token
from mockserver.record.runner import COULD_NOT_RECORD, RECORDED, RecordOptions, run_record

__all__ = [
    "ADMIN_TOKEN",
    "ANONYMIZE_KEY_ENV",
    "COULD_NOT_RECORD",
    "DEFAULT_ANONYMIZE_KEY",
    "RECORDED",
    "USER_TOKEN",
    "Anonymizer",
    "RecordError",
    "RecordOptions",
    "Recording",
    "bound_user",
    "build_document",
    "capture",
    "fixture_user",
    "local_token",
    "run_record",
]
