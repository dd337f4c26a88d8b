"""Tables in, tables out: reading the user's data, the demo world, validation, fresh labelled rows.

In: CSV or Parquet files, the prediction log. Out: frames in the contract's columns.
`tables.check_file` (a malformed file refused in one line, before any reading) / `tables.read_table` /
`prepare_frame` (a binary target kept in the contract's labels) /
`target_codes` (those labels as the model's 0/1); `table_chunks.read_chunks` / `ChunkWriter` (a
file read and written a bounded chunk at a time, one schema throughout);
`demo_world.TransactionGenerator` (the seeded card world the demo and tests draw from);
`validation.validate_frame` (the checked-in Great Expectations suite);
`fresh_labels.read_fresh_rows` / `add_fresh_rows` (the labelled answers a retraining run learns from);
`object_store.read_training_table` / `partition_locations` (training data under an `s3://`
prefix, read with pyarrow's S3 client and the AWS environment); `partitions` (the Dask
engine's Parquet partitions, validated on the workers).
"""
