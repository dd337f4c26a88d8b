"""Where the project keeps state: SQL tables (SQLite by default, PostgreSQL by URL) and the MLflow registry.

`sql.SqlStore` is the base of the two SQL stores: the `prediction_log` (every answer, shadow
score, label and refusal; tables in `prediction_log_schema`, the rows the service hands it in
`prediction_rows`, its SQLite checkpoints and room check in `sqlite_upkeep`, a window read page
by page in `prediction_log_pages`) and the `monitoring_history` (what each monitoring run
found; tables in `monitoring_history_schema`). `registry` is MLflow: versions, tags and the
aliases that switch models (`champion`, `challenger`, `previous`); `alias_journal` keeps a
promotion's or rollback's intent on the registered model while its moves run, and settles one a
killed process left.
"""
