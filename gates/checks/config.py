"""``gates config``: validate the pipeline configuration, and the SLO objectives file it names,
and print the configuration; or print its JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from gates.slo import objectives as slo_objectives
from gates.config import as_json, json_schema, load_config
from gates.outcome import PASSED

if TYPE_CHECKING:
    from gates.config import PipelineConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schema",
        action="store_true",
        help="print the JSON Schema of the [tool.pipeline] table (for editors), not the config",
    )


def run(config: PipelineConfig | None, args: argparse.Namespace) -> int:
    """The schema needs no configuration; the configuration is loaded (and checked) here."""
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
    else:
        config = load_config(args.config)
        slo_objectives.load(config.slo.objectives)  # refused here too, not only by `gates slo`
        print(as_json(config))
    return PASSED
