"""Codecs that formats share: Label Studio brush RLE, masks to polygons and back."""
