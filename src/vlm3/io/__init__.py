"""File readers and writers shared by the stages: depth maps/points and RGB images."""

from vlm3.io.depth import READERS, read_depth, register_reader
from vlm3.io.image import read_image, read_mask, write_png

__all__ = ["READERS", "read_depth", "register_reader", "read_image", "read_mask", "write_png"]
