"""Synthetic people for benchmarks and demos: `profiles.services.generate.profiles_generate`.

`build` draws the people (deterministic for a seed), `write` stores them: COPY on
PostgreSQL, bulk_create on SQLite; `vocab` holds the distributions.
"""
