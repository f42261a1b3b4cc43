"""Lightning callbacks every run uses: records, checkpoints, the strategy driver, convergence (Eq. 12)."""
