"""The fake's control panel under ``/__admin``: reset, fixtures in and out, journal, sessions."""

from mockserver.admin.api import PREFIX, AdminAPI, admin_spec
from mockserver.admin.control import Control

__all__ = ["PREFIX", "AdminAPI", "Control", "admin_spec"]
