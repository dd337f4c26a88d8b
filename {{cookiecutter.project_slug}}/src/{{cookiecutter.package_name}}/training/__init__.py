"""Stage: from a validated table to a registered, gated model version.

In: a prepared frame and the contract. Out: a version in the MLflow registry with its ONNX
bundle, metrics, manifest and profile, and an alias when it passes the gate. `split` (holdout:
the newest slice), `fit` (LightGBM, seeded; float32 thresholds), `onnx_export` (export and
the parity check), `loss_estimator` (regression: the loss model that estimates errors before
labels, its export and holdout calibration), `gate` (thresholds and the champion), `card` (the model card's
content: segments, reliability, gain and SHAP, uncovered features), `steps`
(the training flow's steps, each runnable without a server; flows/training.py is their table
of contents). On the Dask engine: `dask_steps` (the steps that differ), `distributed_split`,
`distributed_fit` and `distributed_profile` (the reference profile's table part counted on
every partition).
"""
