"""Per-epoch cost of every model on each device, beside the per-step reference and PyTorch.

    python benchmarks/epoch_cost.py            # book sizes, every model and device
    python benchmarks/epoch_cost.py --help     # options (the same as `s2sxp bench`)
"""
import sys

from s2sxp.bench import main

if __name__ == "__main__":
    sys.exit(main())
