"""``hypercolumns segment``: its flags, for ``inference.segment.segment_file``."""
from pathlib import Path

from hypercolumns.data.detections import BOX_FORMATS
from hypercolumns.pipelines.bench.bench_engines import measured_engine
from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.inference.viz import VIZ_MODES
from hypercolumns.pipelines.inference import segment


def main(argv=None) -> int:
    parser = command_parser(
        "segment", "segment detections into instance masks",
        model={"required": True, "help": "grid file from train-grid"},
        out={"required": True, "help": "results JSON (detections + RLE)"},
        weights={"help": "network weights (default: cached VGG16)"}, device=True, engine=True)
    parser.add_argument("--annotations", type=Path,
                        help="COCO JSON whose `images` list (id, file_name, width, height) names the images")
    parser.add_argument("--image-root", type=Path, help="the folder of the images --annotations lists")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="instead of --annotations and --image-root: a folder of images, each detection "
                        "naming its file by `file_name` (or DETS an object with `images` [{id, file_name}], "
                        "`detections` and optional `categories` [{id, name}]); sizes are read from the files")
    parser.add_argument("--detections", required=True, type=Path,
                        help="COCO results list (for a model that refines region candidates, "
                             "each entry's `segmentation` is its candidate)")
    parser.add_argument("--box-format", choices=BOX_FORMATS, default=None,
                        help="how each detection's `bbox` reads: xywh, COCO's [x, y, w, h] (default), or xyxy, "
                        "[x0, y0, x1, y1] as torchvision and segment-anything give them; the results keep each "
                        "box as given. Left out, a file whose boxes mostly reach past their images as xywh but "
                        "fit as xyxy is refused, naming --box-format xyxy; given, it is taken as said")
    parser.add_argument("--confidence-threshold", type=float, default=None, metavar="SCORE",
                        help="segment (and write) only detections scored at least SCORE (default: all)")
    parser.add_argument("--max-per-image", type=int, default=None, metavar="N",
                        help="at most N detections per image, the highest scored (COCO's evaluation keeps "
                        "100; default: all)")
    parser.add_argument("--no-superpixels", action="store_true", help="threshold each pixel (= --superpixels none)")
    parser.add_argument("--superpixels", default=segment.DEFAULT_SUPERPIXELS.method, metavar="PROJECTION",
                        help="projection of the pasted heatmap: none, slic, felzenszwalb, grabcut (seeded by the "
                        "heatmap), or with a size: slic-n<segments>, felzenszwalb-scale<scale>, "
                        "grabcut-iter<iterations> (default %(default)s: each pixel thresholded, chosen by "
                        "cross-validation on the shared training images)")
    parser.add_argument("--threshold", type=float, default=segment.THRESHOLD)
    parser.add_argument("--category-map", type=Path, default=None, metavar="MAP.json",
                        help='your category names (or ids) to the grid\'s where they differ, a JSON object '
                        '(e.g. {"motorcycle": "motorbike"}); an agnostic grid needs none')
    parser.add_argument("--viz", type=Path, default=None, help="write a picture per image here")
    parser.add_argument("--viz-mode", choices=VIZ_MODES, default="masks",
                        help="masks: each mask filled in its own colour with its outline and label (default); "
                        "boxes: the same and each box; heatmaps: each pasted heatmap, outline, box and label")
    parser.add_argument("--viz-panels", action="store_true",
                        help="with --viz: also a panel per detection (crop, heatmap, mask, and with --annotations "
                        "the best-overlapping ground truth) in VIZ/panels/, for looking at failures")
    parser.add_argument("--viz-alpha", type=float, default=None, metavar="A",
                        help="opacity of a filled mask (default 0.5) or of a heatmap at 1 (default 0.6)")
    parser.add_argument("--profile", action="store_true",
                        help="print the seconds of each stage: reading images, CNN, conv trick, superpixels, "
                        "projection, RLE, pictures (and what follows the CNN as a share of it)")
    flags = vars(parser.parse_args(argv))
    if flags["max_per_image"] is not None and flags["max_per_image"] < 1:
        parser.error(f"--max-per-image must be at least 1, got {flags['max_per_image']}")
    if flags.pop("no_superpixels"):
        flags["superpixels"] = "none"
    flags["engine"] = measured_engine(flags["engine"], flags["device"], flags["weights"], flags["model"])
    segment.segment_file(**flags)
    return 0
