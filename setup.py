"""Install the code folders under one import name, ``hypercolumns``.

The repository keeps the paper's stages as top-level folders (``extract/``,
``classifiers/``, ``pipelines/``, ``eval/``, ``data/``); ``package_dir`` maps
each to ``hypercolumns.<folder>`` so that nothing called ``eval`` or ``data``
lands at the top of site-packages.  ``hypercolumns`` itself is a namespace
package (it has no folder of its own).
"""
from pathlib import Path

from setuptools import setup

STAGES = ["extract", "classifiers", "pipelines", "eval", "data"]
# pipelines/ is split by role into subpackages (inference, finetune, system2, ...)
SUBPACKAGES = [f"{stage}.{sub.name}" for stage in STAGES for sub in sorted((Path(__file__).parent / stage).iterdir())
               if (sub / "__init__.py").is_file()]
DASK = ["dask[distributed]>=2024.1"]

setup(
    name="hypercolumns",
    version="0.1.0",
    description="Hypercolumns for object segmentation and fine-grained localization "
    "(Hariharan et al., CVPR 2015)",
    python_requires=">=3.10",
    packages=[f"hypercolumns.{name}" for name in STAGES + SUBPACKAGES],
    package_dir={f"hypercolumns.{name}": name.replace(".", "/") for name in STAGES + SUBPACKAGES},
    package_data={"hypercolumns.data": ["*.txt", "*.json"]},
    install_requires=[
        # torch is installed before this package by `make setup` (CPU wheel here,
        # the user's CUDA build elsewhere); a range keeps pip from replacing it.
        "torch>=2.1",
        "numpy>=1.26,<3",
        "scipy>=1.11",
        "scikit-learn>=1.4",
        "liblinear-official>=2.47",
        "opencv-python-headless>=4.8",
        "h5py>=3.9",
        "scikit-image>=0.22",
        "tqdm>=4.66",
        "joblib>=1.3",
        "pycocotools>=2.0.7",
        "matplotlib>=3.8",
    ],
    extras_require={
        # onnx reads the ImageNet VGG16 conv weights; onnxruntime checks the
        # conversion against the original graph.
        "weights": ["onnx>=1.15", "onnxruntime>=1.17"],
        # `--scheduler ADDRESS` of `features` and `train-grid`; the tests run a local cluster.
        "dask": DASK,
        "test": ["pytest>=7.4", *DASK],
    },
    entry_points={"console_scripts": ["hypercolumns=hypercolumns.pipelines.commands.cli:main"]},
)
