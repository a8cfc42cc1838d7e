"""Model selection for multi-head estimators: paired comparisons on identical folds."""

from ._paired import corrected_ttest, paired_comparison

__all__ = ["corrected_ttest", "paired_comparison"]
