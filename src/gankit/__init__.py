"""gankit: generative adversarial networks, faithful to the theory."""

__version__ = "0.1.0"

__all__ = ["__version__"]
