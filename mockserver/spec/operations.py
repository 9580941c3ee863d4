"""The Users API's operations as the checkers name them (``METHOD path``), and the one ``integration``
value the contract allows: one place for the contract runner's behavioural checks, drift and record."""

LIST = "GET /api/v1/customers/{customerId}/users"
LOOKUP = "GET /api/v1/customers/{customerId}/users/lookup"
GET = "GET /api/v1/customers/{customerId}/users/{userId}"
PATCH_V1 = "PATCH /api/v1/customers/{customerId}/users/{userId}"
PATCH_V2 = "PATCH /api/v2/customers/{customerId}/users/{userId}"
DELETE = "DELETE /api/v1/customers/{customerId}/users/{userId}"
INTEGRATION = "cloud-assistant-cdr"
