"""Helpers the tests share: the project's settings and a trained model (`project`), a live Prefect
server (`live_prefect`), a private PostgreSQL schema or database (`postgres`), the service
in-process (`service`), and seeded data for drift, monitoring and shadow tests."""
