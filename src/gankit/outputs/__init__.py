"""What a run writes: checkpoints, files, logs, pictures and the report."""
