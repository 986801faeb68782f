"""lrchain's Hydra sweeper plugin: hydra/sweeper=schedule_search (lrchain.search does the work)."""
