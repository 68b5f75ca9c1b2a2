"""Per-token cost of an epoch of variable-length sentences (bucketed, shuffled, one width) beside
the book's fixed-width date data, for our models and PyTorch with packed sequences and masks.

    python benchmarks/padded_epoch.py           # attention and bahdanau-gru, book sizes
    python benchmarks/padded_epoch.py --help    # options (the same as `s2sxp bench padded`)
"""
import sys

from s2sxp.bench_padded import main

if __name__ == "__main__":
    sys.exit(main())
