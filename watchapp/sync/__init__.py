"""Device sync: protocol (wire format), client (HTTP), engine (push/pull loop)."""
