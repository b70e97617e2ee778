"""Convert a Label Studio JSON export with label-studio-sdk's own converter, as Label Studio's
export dialog does for its other formats.

Runs inside label-studio-sdk's own virtual environment (`tests.thirdparty.tool_venv`), never ours:

    python sdk_convert.py FORMAT LABEL_CONFIG_XML EXPORT_JSON OUT_DIR

FORMAT is one of the converter's: JSON_MIN, CSV, TSV, YOLO, YOLO_OBB, BRUSH_TO_PNG,
BRUSH_TO_NUMPY. Prints the paths of the files it wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

from label_studio_sdk.converter import Converter
from label_studio_sdk.converter.converter import Format


def main(kind: str, config_path: Path, export: Path, out_dir: Path) -> None:
    converter = Converter(config_path.read_text(), str(out_dir))
    if kind == "JSON_MIN":
        converter.convert_to_json_min(str(export), str(out_dir), is_dir=False)
    elif kind in ("CSV", "TSV"):
        converter.convert_to_csv(str(export), str(out_dir), sep="," if kind == "CSV" else "\t", is_dir=False)
    elif kind in ("YOLO", "YOLO_OBB"):
        converter.convert_to_yolo(str(export), str(out_dir), is_dir=False, is_obb=kind == "YOLO_OBB")
    elif kind in ("BRUSH_TO_PNG", "BRUSH_TO_NUMPY"):
        converter.convert(str(export), str(out_dir), Format[kind], is_dir=False)
    else:
        raise SystemExit(f"unknown format {kind}")
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            print(path)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
