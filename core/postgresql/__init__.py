"""PostgreSQL backend: Django's, with the connection health check of pgbouncer's kind."""
