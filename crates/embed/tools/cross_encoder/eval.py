#!/usr/bin/env python3
"""Held-out rates of a cross-encoder trained by train.py: scores the tuning part
and the held-out half (both orders, averaged), chooses the decision threshold on
the tuning part at false hits <= 0.8/0.9/1.0%, and reports it on the held-out
half and on its clean pairs (no question shared with the calibration half).

    python eval.py MODEL_DIR
"""
import gzip
import json
import sys

import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from train import DATA, MAX_LEN, fnv1a


def split():
    parts = {"fit": [], "tune": [], "held": []}
    for line in gzip.open(DATA, "rt"):
        p = json.loads(line)
        h = fnv1a(p["text_a"] + "\x1f" + p["text_b"])
        parts["held" if h % 2 == 1 else "tune" if (h >> 1) % 3 == 0 else "fit"].append(p)
    return parts


@torch.no_grad()
def score(tok, model, rows):
    out = [0.0] * len(rows)
    idx = sorted(range(len(rows)), key=lambda i: len(rows[i]["text_a"]) + len(rows[i]["text_b"]))
    for k in range(0, len(idx), 128):
        b = idx[k : k + 128]
        for x, y in (("text_a", "text_b"), ("text_b", "text_a")):
            enc = tok([rows[i][x] for i in b], [rows[i][y] for i in b], truncation=True,
                      max_length=MAX_LEN, padding=True, return_tensors="pt")
            for i, v in zip(b, model(**enc).logits.squeeze(-1).tolist()):
                out[i] += v / 2
    return out


def rates(rows, scores, t):
    pos = sum(p["label"] for p in rows)
    tp = sum(1 for p, v in zip(rows, scores) if v >= t and p["label"] == 1)
    fp = sum(1 for p, v in zip(rows, scores) if v >= t and p["label"] == 0)
    return f"true {100 * tp / pos:.1f}%, false {100 * fp / (len(rows) - pos):.2f}%"


def main():
    parts = split()
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    model = BertForSequenceClassification.from_pretrained(sys.argv[1], num_labels=1).eval()
    tune, held = parts["tune"], parts["held"]
    st, sh = score(tok, model, tune), score(tok, model, held)
    seen = {q for p in parts["fit"] + tune for q in (p["text_a"], p["text_b"])}
    clean = [(p, v) for p, v in zip(held, sh) if p["text_a"] not in seen and p["text_b"] not in seen]
    negatives = sorted((v for p, v in zip(tune, st) if p["label"] == 0), reverse=True)
    for target in (0.8, 0.9, 1.0):
        t = negatives[int(target / 100 * len(negatives))] + 1e-6
        print(f"false hits <= {target}% on tune: threshold {t:.3f}; tune {rates(tune, st, t)}; "
              f"held-out {rates(held, sh, t)}; clean held-out ({len(clean)}) "
              f"{rates([p for p, _ in clean], [v for _, v in clean], t)}")


if __name__ == "__main__":
    main()
