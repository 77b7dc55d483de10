"""Report stage: LaTeX/CSV tables and PNG figures from scored metrics and predictions."""
