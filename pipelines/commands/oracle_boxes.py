"""``hypercolumns oracle-boxes``: each instance's box jittered to IoU 0.7-0.9, as a detections file."""
from pathlib import Path

from hypercolumns.data.coco import read_coco_json
from hypercolumns.data.files import write_json_atomic
from hypercolumns.pipelines.commands.flags import command_parser


def checked_annotations(path: Path) -> dict:
    """The COCO dict, every annotation checked as ``load_coco`` checks it (InputError naming the file and
    annotation) and holding the ``id`` and ``bbox`` an oracle box is drawn from."""
    from hypercolumns.data.coco import load_coco
    from hypercolumns.data.errors import InputError
    from hypercolumns.data.files import is_finite_box

    load_coco(path, Path("."), check_images=False)     # images, categories, masks of every annotation
    coco = read_coco_json(path)
    for index, annotation in enumerate(coco["annotations"]):
        if "id" not in annotation or not is_finite_box(annotation.get("bbox")):
            raise InputError(f"{path}: annotation {annotation.get('id', index)} needs an `id` and a `bbox` "
                             "[x, y, w, h] to draw its oracle box from")
    return coco


def main(argv=None) -> int:
    from hypercolumns.pipelines.experiments.oracle import oracle_detections

    parser = command_parser("oracle-boxes", oracle_detections.__doc__, seed=True)
    parser.add_argument("--annotations", type=Path, required=True, help="COCO instances JSON")
    parser.add_argument("--out", type=Path, required=True, help="detections JSON (COCO results list)")
    args = parser.parse_args(argv)
    coco = checked_annotations(args.annotations)
    detections = oracle_detections(coco, args.seed)
    write_json_atomic(detections, args.out)
    print(f"wrote {args.out}: {len(detections)} oracle boxes (seed {args.seed})")
    return 0
