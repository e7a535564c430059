from __future__ import annotations

from typing import Any

import numpy as np

from ingest.embedding import SentenceTransformerEmbedder

TEXTS = [
    "Net sales were $1,577 million in fiscal 2023.",
    "Purchases of property, plant and equipment",
    "Our results depend on the price of steel, which may rise, and a prolonged shortage of "
    "semiconductors could delay shipments of our connected widget line to customers in Europe.",
    "Item 7A. Quantitative and Qualitative Disclosures About Market Risk",
    "short",
]


def test_int8_onnx_matches_the_fp32_model_on_padded_batches(embedder: Any) -> None:
    reference = SentenceTransformerEmbedder(threads=1).embed_documents(TEXTS)
    quantised = embedder.embed_documents(TEXTS)
    assert quantised.shape == (len(TEXTS), 384) and quantised.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(quantised, axis=1), 1.0, rtol=1e-5)
    cosine = (reference * quantised).sum(axis=1)
    assert cosine.min() > 0.97, cosine
    # int8 activations are scaled per batch: alone, a text lands close to its batched vector,
    # and the same batch always gives the same vectors
    alone = embedder.embed_query(TEXTS[2])
    assert float(alone @ quantised[2]) > 0.98
    np.testing.assert_array_equal(embedder.embed_documents(TEXTS), quantised)


def test_fp32_onnx_is_exact(model_cache: Any) -> None:
    from ingest.embedding import OnnxEmbedder

    reference = SentenceTransformerEmbedder(threads=1).embed_documents(TEXTS)
    exact = OnnxEmbedder(cache_dir=model_cache, threads=1, quantize=False)
    assert exact.model_id == "packaged:all-MiniLM-L6-v2@onnx-fp32"
    np.testing.assert_allclose(exact.embed_documents(TEXTS), reference, atol=2e-5)


def test_nearest_neighbour_is_the_related_text(embedder: Any) -> None:
    query = embedder.embed_query("capital expenditure for plant and equipment")
    scores = embedder.embed_documents(TEXTS) @ query
    assert int(np.argmax(scores)) == 1


def test_empty_input(embedder: Any) -> None:
    assert embedder.embed_documents([]).shape == (0, 384)
