"""A stateful mock and contract-testing server for the Identity Users API."""

__version__ = "0.1.0"

import warnings

# Connexion imports Starlette's test client at import time, which warns about httpx; not ours.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
