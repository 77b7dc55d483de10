"""Evaluation metrics: depth, correspondence, pose AUC, SpatialRGPT-Bench, bootstrap CIs.

Unparsed answers are NaN predictions; each module documents how it scores them.
"""

from vlm3.metrics.bootstrap import bootstrap_ci
from vlm3.metrics.correspondence import epe, pck, point_errors
from vlm3.metrics.depth import abs_rel, delta1, delta2, delta3, delta_correct, n_unparsed, rmse
from vlm3.metrics.pose import (
    pose_auc,
    pose_error,
    pose_pair_error,
    rotation_error_deg,
    translation_angle_deg,
)
from vlm3.metrics.spatial import (
    accuracy,
    clock_correct,
    clock_hour_error,
    spatial_abs_rel,
    spatial_accuracy,
    spatial_quantitative_correct,
)

__all__ = [
    "abs_rel",
    "accuracy",
    "bootstrap_ci",
    "clock_correct",
    "clock_hour_error",
    "delta1",
    "delta2",
    "delta3",
    "delta_correct",
    "epe",
    "n_unparsed",
    "pck",
    "point_errors",
    "pose_auc",
    "pose_error",
    "pose_pair_error",
    "rmse",
    "rotation_error_deg",
    "spatial_abs_rel",
    "spatial_accuracy",
    "spatial_quantitative_correct",
    "translation_angle_deg",
]
