"""`compute-market roofline`: throughput, latency, bound and cost of a workload on chips; the records and their text
come from experiments.roofline_points."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from experiments.cli import _int_between, _non_negative_int, _positive_int, command_parser
from experiments.errors import UsageError
from experiments.roofline_points import check_group_size, format_point, id_list, roofline_points
from hardware_catalog import PRECISIONS
from market import roofline

# the options roofline_points takes, by their argparse names
OPTIONS = ("chip", "model", "phase", "batch", "precision", "tensor_parallel", "pipeline", "input_tokens",
           "output_tokens", "expert_parallel", "data_parallel", "context_parallel", "zero", "concurrency",
           "kv_precision")


def register(sub) -> None:
    p = command_parser(sub, "roofline", help="throughput, latency, bound and cost of a workload on a chip")
    p.add_argument("--chip", required=True, help="chip id (comma-separate several for --plot); see 'catalog'")
    p.add_argument("--model", required=True, help="workload id (comma-separate several for --plot)")
    p.add_argument("--phase", choices=roofline.PHASES, help="required unless --plot is given")
    p.add_argument("--batch", type=_batch, default=None,
                   help="sequences per step (per data-parallel replica; default 1), or 'max' (largest that fits)")
    p.add_argument("--concurrency", type=_positive_int, default=None,
                   help="requests in flight over all replicas, instead of --batch (batch = concurrency / replicas)")
    p.add_argument("--precision", choices=PRECISIONS, default="bf16", help="number format of weights and math")
    p.add_argument("--tensor-parallel", type=_positive_int, default=None,
                   help="chips in the group (default: smallest that fits)")
    p.add_argument("--pipeline", type=_positive_int, default=None,
                   help="pipeline stages among the group's chips (default: every chip for SRAM chips, else 1)")
    p.add_argument("--expert-parallel", type=_positive_int, default=None,
                   help="chips one copy of a mixture of experts' routed experts is spread over (all-to-all "
                        "dispatch and combine); must divide tensor-parallel x data-parallel chips")
    p.add_argument("--data-parallel", type=_positive_int, default=1,
                   help="replicas of the group side by side (serving: data-parallel attention, each its own "
                        "batch; training: data-parallel ranks)")
    p.add_argument("--context-parallel", type=_positive_int, default=1,
                   help="training: groups one sequence is split over (context parallelism)")
    p.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0,
                   help="training: ZeRO stage sharding optimizer state (1), gradients (2), weights (3, FSDP) over "
                        "data x context ranks")
    p.add_argument("--kv-precision", choices=PRECISIONS, default=None,
                   help="KV-cache number format, apart from the weights' (default: fp8 cache for 8- and 4-bit "
                        "weights, bf16 for bf16)")
    p.add_argument("--input-tokens", type=_non_negative_int, default=128,
                   help="prompt tokens (decode: context already cached)")
    p.add_argument("--output-tokens", type=_positive_int, default=128, help="generated tokens per request (serve)")
    p.add_argument("--json", action="store_true", help="print one JSON object per chip")
    p.add_argument("--plot", type=Path, default=None, help="write a roofline chart (PNG) of the chips and models")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    if args.phase is None and args.plot is None:
        raise UsageError("--phase is required unless --plot is given")
    if args.plot is not None:
        from experiments.plots import made_by_compute_market, roofline_chart

        chips = [catalog.accelerator(cid) for cid in id_list(args.chip, "--chip")]
        models = [catalog.workload(mid) for mid in id_list(args.model, "--model")]
        roofline.check_precision(chips, args.precision)
        check_group_size(chips, args.tensor_parallel, args.pipeline, args.phase or "serve")
        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot: file must end in .png, got '{args.plot}'")
        if (args.plot.exists() or args.plot.is_symlink()) and not made_by_compute_market(args.plot):
            raise UsageError(f"--plot {args.plot}: a file compute-market did not write is already there, and it never "
                             "replaces one; name a new file")
        phases = (args.phase,) if args.phase else None
        batches = (1, 16, 256) if args.batch in (None, 1, "max") else (args.batch,)
        path = roofline_chart(catalog, chips, models, args.plot, precision=args.precision, phases=phases,
                              batches=batches, input_tokens=args.input_tokens, output_tokens=args.output_tokens)
        print(f"wrote {path}", file=sys.stderr)
        if args.phase is None:
            return 0
    records = roofline_points(catalog, **{name: getattr(args, name) for name in OPTIONS})
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    else:
        for rec in records:
            print(format_point(rec))
    return 0


def _batch(text: str) -> int | str:
    return text if text == "max" else _int_between(1, 2**20, "a positive integer or 'max'")(text)
