"""What watches a run: the alarms and the checks for non-finite values."""
