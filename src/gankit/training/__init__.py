"""The training loop and one iteration's mathematics."""
