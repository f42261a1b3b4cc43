"""`python -m trainfix COMMAND ...`: the same as the `trainfix` console script (trainfix.cli)."""

from trainfix.cli import main

if __name__ == "__main__":
    main()
