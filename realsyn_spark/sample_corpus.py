"""The sample corpus for the main job: real interleaved documents nobody on the team wrote.

We use Debian's ``gimp-help-en`` package: the GIMP user manual as ~685 HTML pages with
~2,000 images (photos before/after filters, screenshots, each with a figure caption),
licensed GFDL 1.2+. It is fetched from the Debian archive with ``apt-get download`` at
set-up time (our machines reach package registries only) and never committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from realsyn_spark.config import SampleCorpusConfig

HELP_SUBDIR = Path("usr/share/gimp/2.0/help/en")
COPYRIGHT = Path("usr/share/doc/gimp-help-common/copyright")
LICENSE = "GFDL-1.2+ (GNU Free Documentation License 1.2 or later, no invariant sections)"


class SampleCorpusError(RuntimeError):
    pass


def corpus_dir(cfg: SampleCorpusConfig) -> Path:
    return Path(cfg.dir) / cfg.debian_package


def prepare_sample_corpus(cfg: SampleCorpusConfig, log=print) -> Path:  # noqa: ANN001
    """Download and unpack the package once; returns the folder of HTML pages."""
    target = corpus_dir(cfg)
    html_dir = target / "html"
    marker = target / "SOURCE.json"
    if marker.is_file() and html_dir.is_dir():
        recorded = json.loads(marker.read_text())
        if (
            recorded.get("version") == cfg.debian_version
            and recorded.get("max_pages") == cfg.max_pages
        ):
            return html_dir
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SampleCorpusError(
            "the sample corpus comes from Debian's archive (apt-get download "
            f"{cfg.debian_package}); this machine has no apt-get/dpkg-deb. Point ingest at your "
            "own documents instead: --set 'ingest.sources=[{kind: html_dir, path: DIR}]'"
        )
    log(f"fetching sample corpus: apt-get download {cfg.debian_package}={cfg.debian_version}")
    with tempfile.TemporaryDirectory(prefix="realsyn-sample-") as tmp:
        tmp_path = Path(tmp)
        packages = [f"{cfg.debian_package}={cfg.debian_version}"]
        if cfg.debian_package == "gimp-help-en":
            packages.append(f"gimp-help-common={cfg.debian_version}")  # holds the copyright file
        proc = subprocess.run(
            ["apt-get", "download", *packages], cwd=tmp, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SampleCorpusError(
                f"apt-get download failed ({proc.returncode}): {proc.stderr.strip()[-500:]}\n"
                "If the package is unknown, run `apt-get update` first."
            )
        debs = sorted(tmp_path.glob("*.deb"))
        digests = {deb.name: hashlib.sha256(deb.read_bytes()).hexdigest() for deb in debs}
        unpacked = tmp_path / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        source_html = unpacked / HELP_SUBDIR
        if not source_html.is_dir():
            raise SampleCorpusError(f"{cfg.debian_package} has no {HELP_SUBDIR}")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copytree(source_html, html_dir)
        if cfg.max_pages:
            pages = sorted(html_dir.rglob("*.html"))
            for page in pages[cfg.max_pages :]:
                page.unlink()
        if (unpacked / COPYRIGHT).is_file():
            shutil.copy(unpacked / COPYRIGHT, target / "COPYRIGHT")
    pages = len(list(html_dir.rglob("*.html")))
    marker.write_text(
        json.dumps(
            {
                "package": cfg.debian_package,
                "version": cfg.debian_version,
                "origin": "Debian archive via apt-get download",
                "license": LICENSE,
                "sha256": digests,
                "pages": pages,
                "max_pages": cfg.max_pages,
                "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
    )
    log(f"sample corpus ready: {pages} HTML pages in {html_dir} ({LICENSE})")
    return html_dir
