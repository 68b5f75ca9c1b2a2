"""The benchmarks of s2sxp, kept beside the package and not installed with it. Run them from the
checkout's root (``python -m benchmarks.epoch_cost``, ``python -m benchmarks.padded_epoch``), or
as ``s2sxp bench`` and ``s2sxp bench padded`` from an editable install; PyTorch, where installed,
is timed beside our models. Their records are kept in ``benchmarks/results/``, one folder per
benchmark."""
