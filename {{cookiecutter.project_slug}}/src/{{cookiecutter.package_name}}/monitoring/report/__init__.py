"""What a monitoring run found, for people: an HTML file, Prefect artifacts, a terminal table.

`html.write_report` (one self-contained page per window, from the history tables:
`report_data` gathers, `sections` and `feature_section` give each section's values,
`formatting` their text, `svg` the inline charts, `templates/report.html.j2` the page),
`artifacts` (the run's markdown summary and feature table for Prefect), `terminal` (the
`drift` command's table).
"""
