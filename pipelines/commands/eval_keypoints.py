"""``hypercolumns eval-keypoints``: its flags, for ``experiments.keypoints.evaluate_keypoints``."""
from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import keypoints


def main(argv=None) -> int:
    parser = command_parser(
        "eval-keypoints", keypoints.__doc__, data_root=True,
        work={"default": "work/keypoints", "help": "shards (features/) and grids (models/)"},
        out="results/keypoints", seeds={"help": "val box jitter seeds"}, weights=True, device=True)
    parser.add_argument("--K", type=int, default=1, help="grid size (default 1: ~15 training persons)")
    parser.add_argument("--C", type=float, default=keypoints.DEFAULT_C,
                        help=f"liblinear C of every grid (default {keypoints.DEFAULT_C}; no C search on "
                        "this little data)")
    parser.add_argument("--viz", action="store_true", help="write heatmap pictures to <out>/viz")
    keypoints.evaluate_keypoints(**vars(parser.parse_args(argv)))
    return 0
