"""The paper's comparison table in one command (fetaledge.train.paper_table).

CPU phantom check (what benchmarks/results/paper_table_phantom.* holds):
    python benchmarks/paper_table.py --data PHANTOM --out WORK/paper_table --tiny --trials 2 --epochs 1 \
        --results benchmarks/results/paper_table_phantom

Real run (GPU, local weights; nothing downloads):
    python benchmarks/paper_table.py --data ACOUSLIC --out runs/table --device cuda \
        --fetalclip-weights FetalCLIP_weights.pt --backbone-weights densenet121=densenet121.tv_in1k.pth ...
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from fetaledge.train.paper_table import paper_table


def main() -> None:
    ap = argparse.ArgumentParser(description="FetalCLIP-IQA comparison table: 8 rows, one harness.")
    ap.add_argument("--data", type=Path, required=True, help="ACOUSLIC-layout folder (or phantom) or a frame cache.")
    ap.add_argument("--out", type=Path, required=True, help="Work folder (one finetune run per row).")
    ap.add_argument("--recipe", choices=["paper", "default"], default="paper")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--tiny", action="store_true", help="Shrunk transformers, 64 px baselines (CPU check).")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--fetalclip-weights", type=Path, default=None, help="Local FetalCLIP_weights.pt.")
    ap.add_argument("--backbone-weights", action="append", default=[], metavar="NAME=PATH",
                    help="Local timm checkpoint of one baseline (repeatable).")
    ap.add_argument("--rows", default=None, help="Comma-separated backbone names (default: all eight).")
    ap.add_argument("--results", type=Path, default=None, help="Also copy the table to RESULTS.md / RESULTS.json.")
    args = ap.parse_args()
    weights = {}
    for item in args.backbone_weights:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --backbone-weights {item!r} is not NAME=PATH")
        weights[name] = Path(path)
    paper_table(args.data, args.out, recipe=args.recipe, trials=args.trials, epochs=args.epochs,
                batch_size=args.batch_size, tiny=args.tiny, weights=weights, fetalclip_weights=args.fetalclip_weights,
                rows=tuple(args.rows.split(",")) if args.rows else None, device=args.device)
    print((args.out / "paper_table.md").read_text())
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.out / "paper_table.md", args.results.with_suffix(".md"))
        shutil.copy(args.out / "paper_table.json", args.results.with_suffix(".json"))


if __name__ == "__main__":
    main()
