"""``hypercolumns evaluate``: its flags, for ``eval.evaluate.report_coco`` (no torch)."""
from hypercolumns.eval import evaluate
from hypercolumns.eval.assignment import RULES
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("evaluate", evaluate.__doc__)
    parser.add_argument("--annotations", required=True, help="COCO instances JSON (the ground truth)")
    parser.add_argument("--results", required=True, help="COCO results JSON with RLE segmentations")
    parser.add_argument("--json", dest="json_path", metavar="JSON", help="write the summary dict here")
    parser.add_argument("--rule", choices=sorted(RULES), default="sds",
                        help="sds: the official SDS benchmark, MATLAB (default); mnc: MNC's voc_eval_sds "
                             "(argmax instance, IoU >= t, 11-point AP); sds-python: the SDS authors' Python "
                             "evaluation.py (argmax instance, IoU >= t, all-points AP)")
    evaluate.report_coco(**vars(parser.parse_args(argv)))
    return 0
