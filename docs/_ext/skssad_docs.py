"""Build-time pages of the skssad docs: benchmark tables, profiles, API lists.

Everything here is derived from the repository at build time, so the site
always shows the committed benchmark results (``benchmarks/results/*.md``),
the current ``skssad.profiles.PROFILES`` and every public name of
``skssad.__all__`` without anyone editing the docs by hand.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

def _detector_pages() -> dict[str, tuple[str, tuple[str, ...]]]:
    """detector page -> (class name, file-name prefixes of its results), from the registry.

    A detector's page, its registry name in ``skssad.profiles`` and the
    prefix of its ``benchmarks/results`` files are one name.
    """
    from skssad.profiles import REGISTRY

    return {name: (entry["class"].rsplit(".", 1)[-1], (name,))
            for name, entry in sorted(REGISTRY.items())}


DETECTOR_PAGES = _detector_pages()

#: API reference sections: module -> title (public names come from its __all__)
API_MODULES: list[tuple[str, str]] = [
    ("skssad.metrics", "Metrics"),
    ("skssad.benchmark", "Benchmark protocol"),
    ("skssad.datasets", "Datasets"),
    ("skssad.profiles", "Profiles"),
    ("skssad.tasks", "Pretext tasks"),
    ("skssad.ood", "Out-of-distribution scores"),
    ("skssad.fusion", "Fusion"),
    ("skssad.losses", "Losses"),
    ("skssad.nets", "Networks"),
    ("skssad.training", "Training (skorch seam)"),
    ("skssad.callbacks", "Callbacks"),
    ("skssad.thresholds", "Thresholds"),
    ("skssad.export", "Export (ONNX, TorchScript)"),
    ("skssad.localization", "Localisation protocol"),
    ("skssad.attribution", "Attribution maps"),
    ("skssad.visualization", "Visualisation"),
    ("skssad.base", "Base class"),
]


def _inline(text: str, literals: bool = True) -> str:
    """Markdown inline code ``x`` -> reST literal; bold is the same in both.

    Outside literals, ``@`` is escaped so ``APCER@5%BPCER`` is no e-mail link,
    and underscores ending a word so ``aten::copy_`` is no reference; with
    ``literals=False`` (headings) code spans become plain text.
    """
    parts = re.split(r"((?<!`)`[^`]+`(?!`))", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"``{part[1:-1]}``" if literals else part[1:-1])
        else:
            part = re.sub(r"(?<=\w)_+(?!\w)", lambda m: "\\_" * len(m.group()), part)
            out.append(part.replace("@", "\\@"))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_rst(md: str, level_char: str = "~") -> str:
    """Convert the simple Markdown of the benchmark results to reST.

    Handles what the result files use: headings, paragraphs, ``code``,
    **bold**, bullet lists, fenced code blocks and pipe tables.
    """
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            out += ["", ".. code-block:: text", ""]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append("   " + lines[i])
                i += 1
            out.append("")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                if not re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            width = max(len(r) for r in rows)
            out += ["", ".. list-table::", "   :header-rows: 1", "   :class: skssad-results", ""]
            for row in rows:
                row = row + [""] * (width - len(row))
                out.append("   * - " + (_inline(row[0]) or r"\ "))
                out += ["     - " + (_inline(c) or r"\ ") for c in row[1:]]
            out.append("")
            continue
        # A code span may be soft-wrapped over several lines (Markdown allows it,
        # reST does not): join the following lines until the backticks pair up.
        while line.count("`") % 2 and i + 1 < len(lines) and lines[i + 1].strip():
            i += 1
            line = line.rstrip() + " " + lines[i].strip()
        m = re.match(r"(#+)\s+(.*)", line)
        if m:
            out += ["", f".. rubric:: {_inline(m.group(2).strip(), literals=False)}", ""]
        else:
            out.append(_inline(line))
        i += 1
    return "\n".join(out) + "\n"


def result_files(prefixes: tuple[str, ...]) -> list[Path]:
    """The committed ``.md`` results whose name starts with one of ``prefixes``."""
    if not RESULTS.is_dir():
        return []
    seen: list[Path] = []
    for p in sorted(RESULTS.glob("*.md")):
        if any(p.stem == pre or p.stem.startswith(pre + "_") for pre in prefixes):
            if p not in seen:
                seen.append(p)
    return seen


def harness_files() -> list[Path]:
    """``benchmarks/results/<run>/results.md`` of the one-vs-all harness, plus the
    top-level ``.md`` results that belong to no single detector (e.g. throughput)."""
    if not RESULTS.is_dir():
        return []
    claimed = {p for _, prefixes in DETECTOR_PAGES.values() for p in result_files(prefixes)}
    loose = [p for p in sorted(RESULTS.glob("*.md")) if p not in claimed]
    return sorted(RESULTS.glob("*/results.md")) + loose


def harness_rst() -> str:
    files = harness_files()
    if not files:
        return ("No harness results are committed yet; they will appear here once "
                "``benchmarks/results/<run>/results.md`` exists.\n")
    parts = []
    for p in files:
        rel = p.relative_to(RESULTS).as_posix()
        title = p.parent.name if p.name == "results.md" else p.stem
        parts += [title, "-" * len(title), "",
                  f"*From* ``benchmarks/results/{rel}``:", "",
                  markdown_to_rst(p.read_text(encoding="utf-8"))]
    return "\n".join(parts)


def _mentions(path: Path, cls: str, names: list[str]) -> bool:
    text = path.read_text(encoding="utf-8")
    return cls in text or any(f"| {n} |" in text for n in names)


def benchmark_rst(page: str) -> str:
    cls, prefixes = DETECTOR_PAGES[page]
    files = result_files(prefixes)
    harness = [p for p in harness_files() if _mentions(p, cls, [page, *prefixes])]
    see = ""
    if harness:
        runs = ", ".join(f"``{p.relative_to(RESULTS).as_posix()}``" for p in harness)
        see = (f"The one-vs-all harness tables on :doc:`/benchmarks` ({runs}) compare "
               f"``{cls}`` with the other detectors and classical baselines.\n\n")
    if not files and see:
        return see
    if not files:
        return see + (f"No benchmark results for ``{cls}`` are committed yet; they will "
                      "appear here once ``benchmarks/results/"
                      f"{prefixes[0]}_*.md`` exists.\n")
    parts = [see]
    for p in files:
        parts.append(f"*From* ``benchmarks/results/{p.name}``:\n")
        parts.append(markdown_to_rst(p.read_text(encoding="utf-8")))
    return "\n".join(parts)


def profiles_rst(page: str) -> str:
    cls, _ = DETECTOR_PAGES[page]
    try:
        profiles = importlib.import_module("skssad.profiles")
    except ImportError:  # pragma: no cover - the package is importable when docs build
        return "The benchmark profiles are not available.\n"
    names = [n for n, path in profiles.DETECTORS.items() if path.rsplit(".", 1)[-1] == cls]
    if not names:
        return (f"``skssad.profiles`` has no entry for ``{cls}`` yet; the constructor "
                "defaults below are the paper's settings.\n")
    name = names[0]
    rows = []
    table = profiles.PROFILES[name]
    keys = sorted({k for prof in table.values() for k in prof})
    order = sorted(table)
    out = [f"Profile name: ``{name}`` (``skssad.profiles.make_detector({name!r}, profile)``).",
           "", ".. list-table::", "   :header-rows: 1", "",
           "   * - parameter"] + [f"     - ``{p}``" for p in order]
    for k in keys:
        rows.append(f"   * - ``{k}``")
        rows += [f"     - ``{table[p][k]!r}``" if k in table[p] else "     - (default)"
                 for p in order]
    return "\n".join(out + rows) + "\n"


def api_rst() -> str:
    skssad = importlib.import_module("skssad")
    out = [".. This page is written by docs/_ext/skssad_docs.py at build time; do not edit.",
           "", ".. _api:", "", "API reference", "=============", "",
           "Every public name of ``skssad`` and its subpackages, generated from the",
           "docstrings. Detectors follow the scikit-learn outlier-detector API: ``fit``,",
           "``score_samples`` (higher = more normal), ``decision_function`` (negative =",
           "anomaly) and ``predict`` (+1 / -1).", "",
           "Detectors", "---------", "", ".. currentmodule:: skssad", "",
           ".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
    out += [f"   {n}" for n in skssad.__all__ if not n.startswith("_")]
    out.append("")
    for mod, title in API_MODULES:
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue
        names = [n for n in getattr(module, "__all__", []) if not n.startswith("_")]
        if not names:
            continue
        out += [f"{title} (``{mod}``)", "-" * (len(title) + len(mod) + 7), "",
                f".. automodule:: {mod}", "   :no-members:", "   :no-index:", "",
                f".. currentmodule:: {mod}", "",
                ".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
        out += [f"   {n}" for n in names]
        out.append("")
    return "\n".join(out)


def examples_rst(docs_dir: Path) -> str:
    """One section per ``examples/*.py``: its docstring, then its code."""
    import ast

    out = []
    for path in sorted((docs_dir / "examples").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
        title, _, body = doc.partition("\n")
        out += [title.strip(), "-" * len(title.strip()), "", body.strip(), "",
                f"``docs/examples/{path.name}``", "",
                f".. literalinclude:: examples/{path.name}", "   :language: python",
                "   :lines: " + str(_first_code_line(path)) + "-", ""]
    return "\n".join(out) or "No examples yet.\n"


def _first_code_line(path: Path) -> int:
    """1-based line after the module docstring (the docstring is shown as prose)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    first = tree.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
        return first.end_lineno + 1
    return 1


#: detector page -> figures (file stem in _static/figures, caption)
FIGURES: dict[str, list[tuple[str, str]]] = {
    "geometric": [("geometric", "Eight of the 36 rotation/translation compositions of one "
                   "image; the network names r, s and t of each.")],
    "puzzle_tint_color": [
        ("puzzle", "Piece-wise puzzle: the image is cut into 3x3 cells, each piece keeps "
         "a margin of half a piece (so no continuous edge betrays the order), the pieces "
         "are shuffled and the network predicts each one's original slot."),
        ("tint", "Tint rotation: hue offsets of 360/c degrees (c = 4); in the multi-cue "
         "task each piece gets its own offset."),
        ("colorization", "Partial colorization: from the lightness L and the colours on a "
         "border of width b, a UNet predicts the colour distribution of every pixel."),
    ],
    "anomem": [("anomem_views", "Random contrastive views of one image (crop, flip, "
                "colour jitter, blur, noise), made on the device in one batch.")],
    "igd": [("igd", "IGDDetector trained on digit 0 for a few seconds: scores (higher = "
             "more normal), reconstructions and per-pixel anomaly maps of three 0s and "
             "three 7s.")],
    "frame_permutation": [("frames", "Top: M = 5 frames of a moving-digit video, taken with "
                           "a skip of 2. Bottom: the same frames shuffled by one of the "
                           "M! permutations, which the network must name.")],
}


def figures_rst(docs_dir: Path, page: str) -> str:
    out = []
    for stem, caption in FIGURES.get(page, []):
        if (docs_dir / "_static" / "figures" / f"{stem}.png").exists():
            out += [f".. figure:: /_static/figures/{stem}.png", f"   :alt: {stem}",
                    "   :class: skssad-figure", "", f"   {caption}", ""]
        else:
            out += [f"*Figure pending:* ``python docs/make_figures.py`` renders "
                    f"``{stem}.png`` once its pretext task is in the package.", ""]
    return "\n".join(out) + "\n"


#: Methods that localise, in the order a table names them.
_LOCALISERS = ("anomaly_map", "score_pieces", "score_segments")


def detectors_rst() -> str:
    """The table of detectors (both index pages), from the registry and the classes."""
    import inspect

    from skssad.profiles import detector_class

    out = [".. list-table::", "   :header-rows: 1", "", "   * - detector", "     - method",
           "     - data", "     - labelled anomalies", "     - localisation"]
    for page in DETECTOR_PAGES:
        cls = detector_class(page)
        video = "score_segments" in vars(cls)
        local = [f"``{m}``" for m in _LOCALISERS if callable(getattr(cls, m, None))]
        out += [f"   * - :doc:`/detectors/{page}`",
                f"     - {inspect.getdoc(cls).splitlines()[0]}",
                "     - " + ("videos, time series" if video else "images"),
                "     - " + ("**used** (semi-supervised)" if cls._uses_known_anomalies
                             else "dropped"),
                "     - " + (", ".join(local) or "none")]
    return "\n".join(out) + "\n"


def write_generated(docs_dir: Path) -> None:
    """Write ``_generated/*.rst`` (only when changed, so rebuilds stay incremental)."""
    gen = docs_dir / "_generated"
    gen.mkdir(exist_ok=True)
    files = {f"bench_{p}.rst": benchmark_rst(p) for p in DETECTOR_PAGES}
    files.update({f"profiles_{p}.rst": profiles_rst(p) for p in DETECTOR_PAGES})
    api = docs_dir / "api.rst"  # a real document, so autosummary writes its stubs
    if not api.exists() or api.read_text(encoding="utf-8") != api_rst():
        api.write_text(api_rst(), encoding="utf-8")
    files["examples.rst"] = examples_rst(docs_dir)
    files["bench_harness.rst"] = harness_rst()
    files["detectors.rst"] = detectors_rst()
    files.update({f"figures_{p}.rst": figures_rst(docs_dir, p) for p in DETECTOR_PAGES})
    for name, text in files.items():
        path = gen / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


# --- Docstring hygiene ------------------------------------------------------------------
# Two reST pitfalls of otherwise valid numpydoc docstrings, fixed at build time without
# hiding anything else from ``sphinx-build -W``:
# 1. A fitted-attribute name with a trailing underscore inside a numpydoc *type* spec,
#    e.g. ``perms_ : ndarray of shape (k_, n)``, is read as a reST hyperlink reference
#    ("Unknown target name"). Type specs never contain references, so quote such names.
# 2. autosummary cuts the one-line summary at the first ". ", even inside an inline
#    literal such as ``f_T1 ... f_TN``, leaving an unterminated literal. Use an ellipsis
#    character inside literals of the first line.
_TYPE_LINE = re.compile(r"^(\s*[\w*, ]+ : )(.+)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![\w`])")
_LITERAL = re.compile(r"``[^`]*``")


def _fix_type_spec(line: str) -> str:
    m = _TYPE_LINE.match(line)
    if not m:
        return line
    return m.group(1) + _TRAILING_UNDERSCORE.sub(r"``\1``", m.group(2))


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    if lines:
        lines[0] = _LITERAL.sub(lambda m: m.group(0).replace("...", "\u2026"), lines[0])
    lines[:] = [_fix_type_spec(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
