"""Command-line benchmarks of skssad; committed results in ``benchmarks/results/``."""
