"""`python -m gankit` runs the command-line interface (also used by torchrun)."""

from gankit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
