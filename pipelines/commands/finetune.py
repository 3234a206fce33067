"""``hypercolumns finetune``: its flags, for ``finetune.training.run_finetune``."""
from dataclasses import asdict
from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.finetune import training


def main(argv=None) -> int:
    parser = command_parser("finetune", training.__doc__, data_root=True,
                            model={"help": "grid to start from (its class-agnostic grid)"},
                            out="work/finetune", device=True)
    defaults = asdict(training.FinetuneOptions())
    for field, value in defaults.items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    flags = vars(parser.parse_args(argv))
    options = training.FinetuneOptions(**{field: flags.pop(field) for field in defaults})
    training.run_finetune(**flags, options=options)
    return 0
