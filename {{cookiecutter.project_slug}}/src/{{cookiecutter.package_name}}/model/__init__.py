"""What a model version carries, beside its ONNX graph: read and written as files, never pickled.

In: a trained model's encoding, holdout scores and training data. Out: the served `bundle`
(ONNX + encoding + threshold), the environment `manifest` (packages, lock hash, commit, data
fingerprint, seed, opset), the `reference_profile` monitoring compares windows with (a
feature's bins or levels in `feature_profile`, whose counts add across a table's parts), the
score `calibration` fitted on the holdout (multiclass: one map per class); for regression,
the `loss_model` (loss_model.onnx, read with the bundle's encoding) and its
`loss_calibration` (the estimate and its band); the `model_card` (data, rendered to Markdown,
and by `card_html` to HTML) that states what the version is and where its figures say little.
Entry points: `bundle.load_bundle`, `reference_profile.fit_profile` / `load_profile`.
"""
