"""The paper's analyses as reusable functions (typical sets; more in later work)."""

from .typical_sets import nll_samples, plot_nll_histograms, typical_set_rows

__all__ = ["nll_samples", "plot_nll_histograms", "typical_set_rows"]
