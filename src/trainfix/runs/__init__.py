"""Run identity and run folders: what a run is, where it lives, its records and its seeds."""
