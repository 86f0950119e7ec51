"""Where and how a run executes: processes, precision, progress."""
