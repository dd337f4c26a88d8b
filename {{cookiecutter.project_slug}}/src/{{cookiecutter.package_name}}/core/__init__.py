"""The shared vocabulary of every stage: pure functions and types, no I/O beyond reading a file.

In: a contract file, arrays and frames. Out: the `Contract` (`contract`) and what it derives
(the GX suite and the request model: `contract_derived`; a first draft from a table:
`contract_draft`, with the task and a binary target's labels read from its values:
`contract_target`), the feature encoding to the model's float32 matrix (`encoding`), histograms
(`histogram`), model metrics (`metrics`), two-sample tests from counts (`two_sample`) and the
weighted bootstrap (`bootstrap`), which failures a flow step retries (`transient`), and the Jinja
set-up of the HTML pages (`html_page`). Imports only `settings` and `errors`.
"""
