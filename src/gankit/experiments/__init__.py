"""Research that plugs into the seams of the core and is not a default."""
