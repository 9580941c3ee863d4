"""What the remote-target commands (contract, record, drift, proxy) share: TLS, the HTTP client, options."""
