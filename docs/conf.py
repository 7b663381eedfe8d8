"""Sphinx configuration of the skssad documentation."""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from skssad_docs import write_generated  # noqa: E402

import skssad  # noqa: E402

write_generated(DOCS)

project = "skssad"
author = "the skssad developers"
copyright = "2026, the skssad developers"
release = skssad.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "skssad_docs",
]

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc renders the types from the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
nitpicky = False

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "examples/README.rst", ".gitignore"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"
smartquotes = False  # keep "--option" and quotes in commands as typed

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_css_files = ["skssad.css"]
html_title = f"skssad {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
