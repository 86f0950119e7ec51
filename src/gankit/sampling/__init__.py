"""Drawing from a trained generator, and samplers wrapped around it."""
