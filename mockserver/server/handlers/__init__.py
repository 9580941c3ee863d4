"""Operation handlers, one module per resource; Connexion resolves them by ``operationId``."""
