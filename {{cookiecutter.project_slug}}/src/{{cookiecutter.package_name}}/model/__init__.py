"""What a model version carries, beside its ONNX graph: read and written as files, never pickled.

In: a trained model's encoding, holdout scores and training data. Out: the served `bundle`
(ONNX + encoding + threshold), the environment `manifest` (packages, lock hash, commit, data
fingerprint, seed, opset), the `reference_profile` monitoring compares windows with, and the
score `calibration` fitted on the holdout. Entry points: `bundle.load_bundle`,
`reference_profile.fit_profile` / `load_profile`.
"""
