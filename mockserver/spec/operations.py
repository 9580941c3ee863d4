"""The Users API's operations as the checkers name them (``METHOD path``), and the one ``integration``
value the contract allows: one place for the contract runner's behavioural checks, drift and record."""

from mockserver.spec.rules import CUSTOMER_PARAMETER, USER_PARAMETER, lookup_path, user_path, users_path

LIST = f"GET {users_path(CUSTOMER_PARAMETER)}"
LOOKUP = f"GET {lookup_path(CUSTOMER_PARAMETER)}"
GET = f"GET {user_path(CUSTOMER_PARAMETER, USER_PARAMETER)}"
PATCH_V1 = f"PATCH {user_path(CUSTOMER_PARAMETER, USER_PARAMETER)}"
PATCH_V2 = f"PATCH {user_path(CUSTOMER_PARAMETER, USER_PARAMETER, 'v2')}"
DELETE = f"DELETE {user_path(CUSTOMER_PARAMETER, USER_PARAMETER)}"
INTEGRATION = "cloud-assistant-cdr"
