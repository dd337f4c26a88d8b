"""What a monitoring run found, for people: an HTML file, Prefect artifacts, a terminal table.

`html.write_report` (one self-contained page per window, from the history tables:
`report_data`, `sections`, inline SVG charts from `svg`), `artifacts` (the run's markdown
summary and feature table for Prefect), `terminal` (the `drift` command's table).
"""
