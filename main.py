"""`python main.py ARGS` is the same CLI as the `medbench ARGS` console script."""

from medbench.cli import main

if __name__ == "__main__":
    main()
