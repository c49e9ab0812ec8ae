"""fetaledge: fetal ultrasound image-quality assessment, from FetalCLIP to a cheap ARM tablet.

The package is split by pipeline stage (see DESIGN.md section 2): ``data`` (ACOUSLIC-AI reader, phantom,
cache, splits), ``models``, ``train``, ``export``, ``runtime`` (torch-free) and the CLI in ``cli``.
Importing ``fetaledge`` itself imports nothing heavy.
"""

__version__ = "0.1.0"
