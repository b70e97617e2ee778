"""The labeling page's brush and eraser: a stroke's mask added to or cut from a segmentation,
traced back to polygons by the importers' own tracer (formats.codecs.mask_polygons).

It sits above `formats` (labeling may not import formats), so that the page and every
import trace pixels to polygons with one function.
"""
