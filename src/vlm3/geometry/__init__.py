"""Camera geometry: coordinates, projection, depth kinds, focal unification, rigid transforms, poses,
covisibility.

Conventions (docs/CONTRACTS.md): OpenCV camera axes (X right, Y down, Z forward), integer pixel
coordinates name pixel centres, K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], metres, degrees for
angles exposed in text.
"""

from vlm3.geometry.camera import check_K, make_K, project, unproject
from vlm3.geometry.coords import (
    denormalize_box,
    denormalize_point,
    normalize_box,
    normalize_point,
    normalize_points,
    point_max,
)
from vlm3.geometry.covisibility import COVISIBILITY_TOL, covisibility, reproject, visible_mask
from vlm3.geometry.depth import ray_factor, ray_to_z, sparse_depth_map, unify_points, z_to_ray
from vlm3.geometry.distortion import DIST_MODELS, check_dist, distort, undistort
from vlm3.geometry.focal import (
    FocalPlan,
    plan_unify_focal,
    source_to_unified,
    unified_to_source,
    unify_focal,
    unify_focal_K,
)
from vlm3.geometry.pose import (
    DIRECTION_THRESHOLD,
    relative_pose,
    rotation_angle_deg,
    rotation_to_ypr,
    translation_direction,
    translation_words,
    ypr_to_rotation,
)
from vlm3.geometry.rigid import invert_rigid, quat_to_rotation, rigid_matrix

__all__ = [
    "COVISIBILITY_TOL",
    "DIRECTION_THRESHOLD",
    "DIST_MODELS",
    "FocalPlan",
    "check_K",
    "check_dist",
    "covisibility",
    "denormalize_box",
    "denormalize_point",
    "distort",
    "invert_rigid",
    "make_K",
    "normalize_box",
    "normalize_point",
    "normalize_points",
    "plan_unify_focal",
    "point_max",
    "project",
    "quat_to_rotation",
    "ray_factor",
    "ray_to_z",
    "relative_pose",
    "reproject",
    "rigid_matrix",
    "rotation_angle_deg",
    "rotation_to_ypr",
    "source_to_unified",
    "sparse_depth_map",
    "translation_direction",
    "translation_words",
    "undistort",
    "unified_to_source",
    "unify_focal",
    "unify_focal_K",
    "unify_points",
    "unproject",
    "visible_mask",
    "ypr_to_rotation",
    "z_to_ray",
]
