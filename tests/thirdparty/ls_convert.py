"""Convert Label Studio's JSON export to COCO or Pascal VOC with label-studio-sdk's own converter.

Runs inside label-studio-sdk's virtual environment (`tests.thirdparty.tool_venv`), never ours:

    python ls_convert.py LABEL_CONFIG_XML EXPORT_JSON FORMAT OUT_DIR

FORMAT is COCO or VOC, as Label Studio's export dialog names them; OUT_DIR receives what the
converter writes (COCO: `result.json` and `images/`; VOC: `Annotations/*.xml` and `images/`).
The converter's COCO keypoints need each KeyPointLabels label to carry `model_index` (Label
Studio refuses the export otherwise), so the script numbers them in the order of the config,
as a user must before exporting. Images are not downloaded (the example URLs do not exist):
the converter then keeps each task's image URL as the image's file name.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from label_studio_sdk.converter import Converter


def main(config_path: Path, export_path: Path, fmt: str, out_dir: Path) -> None:
    config = config_path.read_text()
    block = re.search(r"<KeyPointLabels.*?</KeyPointLabels>", config, flags=re.S)
    if block:
        numbered = block.group(0)
        for index, label in enumerate(re.findall(r"<Label [^>]*?/>", numbered)):
            numbered = numbered.replace(label, label[:-2].rstrip() + f' model_index="{index}"/>', 1)
        config = config.replace(block.group(0), numbered)
    converter = Converter(config=config, project_dir=None, download_resources=False)
    converter.convert(str(export_path), str(out_dir), fmt, is_dir=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
