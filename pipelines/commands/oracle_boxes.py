"""``hypercolumns oracle-boxes``: each instance's box jittered to IoU 0.7-0.9, as a detections file."""
from pathlib import Path

from hypercolumns.data.coco import read_coco_json
from hypercolumns.data.files import write_json_atomic
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    from hypercolumns.pipelines.experiments.oracle import oracle_detections

    parser = command_parser("oracle-boxes", oracle_detections.__doc__, seed=True)
    parser.add_argument("--annotations", type=Path, required=True, help="COCO instances JSON")
    parser.add_argument("--out", type=Path, required=True, help="detections JSON (COCO results list)")
    args = parser.parse_args(argv)
    coco = read_coco_json(args.annotations)
    detections = oracle_detections(coco, args.seed)
    write_json_atomic(detections, args.out)
    print(f"wrote {args.out}: {len(detections)} oracle boxes (seed {args.seed})")
    return 0
