"""`accelerate launch [--config_file configs/zero2.yaml] -m medbench.train --benchmark ... --task ...`:
the `medbench train` command (same options, same one-line errors), run in every process
accelerate starts."""

import sys

from medbench.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
