"""``hypercolumns yolo-to-coco``: a YOLO-seg split as COCO instances JSON (``data.yolo.yolo_to_coco``)."""
from pathlib import Path

from hypercolumns.data.files import write_json_atomic
from hypercolumns.data.yolo import split_by_image, yolo_to_coco
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("yolo-to-coco", yolo_to_coco.__doc__)
    parser.add_argument("--yolo", type=Path, required=True, help="folder with classes.txt, images/, labels/")
    parser.add_argument("--split", default="train2017", help="subfolder of images/ and labels/")
    parser.add_argument("--out", type=Path, required=True, help="COCO instances JSON")
    parser.add_argument("--holdout-out", type=Path, default=None, metavar="JSON",
                        help="also split by image: every second image into this file, the rest into --out")
    args = parser.parse_args(argv)
    coco = yolo_to_coco(args.yolo, args.split)
    parts = split_by_image(coco) if args.holdout_out else (coco,)
    for part, path in zip(parts, (args.out, args.holdout_out)):
        write_json_atomic(part, path)
        print(f"wrote {path}: {len(part['images'])} images, {len(part['annotations'])} instances; "
              f"images under {args.yolo / 'images' / args.split}")
    return 0
