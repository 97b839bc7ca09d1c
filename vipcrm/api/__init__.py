"""The REST API's plumbing: one error format (errors), the schema's shared parts (schema)."""
