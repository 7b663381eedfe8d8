"""The MVTec AD localisation protocol on synthetic texture defects, per detector with a map.

For every detector named (default: every image detector with a map:
``igd``, whose map is native, Eq. 12 of
igd-interpolated-gaussian-descriptor.txt, ``anomem``, the memory deviation
of its feature maps, and ``geometric``, mapped by occlusion of its score,
:func:`skssad.attribution.anomaly_map`, with ``--window``), run
:func:`skssad.localization.evaluate_localization` on
:func:`skssad.datasets.make_texture_defects` for each texture (brick,
grass, gravel, the "categories"): image AUROC, pixel AUROC and AUPRO (FPR
up to 0.3), with the per-category mean row, through ``benchmarks/_report.py``
(``<out>.csv`` with the configuration and provenance per row, ``<out>.md``).
Usage, from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.anomaly_maps --size 32 \\
        --out benchmarks/results/anomaly_maps
"""

from __future__ import annotations

import argparse
import inspect
import json

from benchmarks import _report as report


def mapped_detectors() -> list[str]:
    """Every registered detector with an ``anomaly_map`` (every image detector)."""
    from skssad.profiles import REGISTRY, detector_class

    return [name for name in REGISTRY
            if callable(getattr(detector_class(name), "anomaly_map", None))]


def run(names, textures, profile: str, size: int, n_train: int, n_test: int,
        epochs: int | None, window: int | None, seed: int):
    import pandas as pd

    from skssad.attribution import anomaly_map
    from skssad.datasets import make_texture_defects
    from skssad.localization import detector_anomaly_map, evaluate_localization
    from skssad.metrics import per_category_summary
    from skssad.profiles import make_detector

    tables = []
    for name in names:
        overrides = dict(device="cpu", random_state=seed, input_size=size)
        if epochs is not None:
            overrides["max_epochs"] = epochs
        det = make_detector(name, profile, ensemble=1, **overrides)
        own = getattr(det, "anomaly_map", None)
        # GeometricTransformDetector's own anomaly_map is the occlusion map and takes its
        # window; a map without a window argument is native to the method (IGD, AnoMem).
        occlusion = not callable(own) or "window" in inspect.signature(own).parameters
        native = not occlusion

        def map_fn(d, X, occlusion=occlusion):
            if not occlusion:
                return detector_anomaly_map(d, X)
            if callable(getattr(d, "anomaly_map", None)):
                return d.anomaly_map(X, window=window)
            return anomaly_map(d, X, window=window)

        rows = []
        for texture in textures:
            data = make_texture_defects(texture, n_train=n_train, n_test=n_test, size=size,
                                        random_state=seed)
            r = evaluate_localization(det, data.train, data.test, data.target, data.masks,
                                      map_fn=map_fn)
            r.pop("detector")
            rows.append({"category": texture, **r})
            print(name, rows[-1], flush=True)
        table = per_category_summary(rows)
        table.insert(0, "map", "native" if native else "occlusion")
        table.insert(0, "detector", name)
        table["config"] = json.dumps(report.config(det), sort_keys=True)
        tables.append(table)
    return pd.concat(tables)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.anomaly_maps",
                                description=__doc__.split("\n")[0])
    p.add_argument("--detectors", nargs="*", default=None,
                   help="default: every registered detector with an anomaly_map")
    p.add_argument("--textures", nargs="*", default=["brick", "grass", "gravel"])
    p.add_argument("--profile", default="quick")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--window", type=int, default=None, help="occlusion window (pixels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write <out>.csv and <out>.md")
    args = p.parse_args(argv)
    report.use_omp_threads()
    # The provenance of the code and machine that run the study, taken before it runs.
    rep = report.Report(
        f"Localisation protocol on synthetic texture defects, profile `{args.profile}`",
        prog="benchmarks.anomaly_maps", argv=argv, seed=args.seed, profile=args.profile,
        data=(f"skssad.datasets.make_texture_defects, {args.size}x{args.size} crops, "
              f"{args.n_train} train / {args.n_test} test per texture (half defective), "
              f"seed {args.seed}; epochs {args.epochs or 'of the profile'}"),
        notes=["Metrics: image AUROC of score_samples; pixel AUROC and AUPRO (FPR <= 0.3, "
               "normalised; skssad.metrics.aupro) of the maps; `mean` = unweighted mean "
               "over textures; map `native` = the detector's own anomaly_map, `occlusion`"
               " = skssad.attribution.anomaly_map"
               + (f" with window {args.window}" if args.window else "")])
    table = run(args.detectors or mapped_detectors(), args.textures, args.profile, args.size,
                args.n_train, args.n_test, args.epochs, args.window, args.seed)
    table.index.name = "category"
    table = table.reset_index()
    print(table.drop(columns="config").to_string(index=False))
    if args.out:
        shown = table.drop(columns=["config", "n_train", "n_test"])
        rep.table("Per-texture rows", table, markdown=False)
        rep.table("Image AUROC, pixel AUROC and AUPRO per texture", shown, csv=False,
                  floatfmt=".3f")
        rep.text("## Configurations", "", *[f"- {d}: `{c}`" for d, c in
                                           table.groupby("detector", sort=False).config.first()
                                           .items()])
        rep.write(args.out)
    return table


if __name__ == "__main__":
    main()
