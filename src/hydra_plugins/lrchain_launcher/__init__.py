"""lrchain's Hydra launcher plugin: hydra/launcher=parallel (lrchain.parallel does the work)."""
