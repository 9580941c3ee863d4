"""What the contract says, read from ``openapi/users.yaml``: where the shipped files live (``resources``),
the paths as a route table (``routes``), the operations' names (``operations``), the schemas and their
error wording (``schemas``) and the coverage model (``coverage``). Imports ``core`` only.
"""
