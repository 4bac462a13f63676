"""The reference for the MLX backend's embedding tests: a BERT forward pass written in numpy
(float64) straight from a checkpoint's model.safetensors and config.json (directory argv[1]),
for the texts given as a JSON list (argv[2]). Tokenizes with the directory's tokenizer.json,
padding and truncation off, so every text is its own tokens only. Prints JSON, per text: the
token count and the mean, [CLS] and last-token pooled vectors."""

import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

ERF = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    # Hugging Face BERT's "gelu": the exact, erf-based one.
    return 0.5 * x * (1.0 + ERF(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def main():
    path, texts = sys.argv[1], json.loads(sys.argv[2])
    config = json.load(open(os.path.join(path, "config.json")))
    raw = load_file(os.path.join(path, "model.safetensors"))
    t = {k.removeprefix("bert."): v.astype(np.float64) for k, v in raw.items()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    out = []
    for text in texts:
        ids = tok.encode(text).ids
        n = len(ids)
        h = (
            t["embeddings.word_embeddings.weight"][ids]
            + t["embeddings.position_embeddings.weight"][:n]
            + t["embeddings.token_type_embeddings.weight"][[0] * n]
        )
        h = layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
        d = h.shape[1] // heads
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(x, name):
                return x @ t[p + name + ".weight"].T + t[p + name + ".bias"]

            q = lin(h, "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
            k = lin(h, "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
            v = lin(h, "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
            h = layer_norm(
                h + lin(a, "attention.output.dense"),
                t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            inner = gelu(lin(h, "intermediate.dense"))
            h = layer_norm(
                h + lin(inner, "output.dense"),
                t[p + "output.LayerNorm.weight"],
                t[p + "output.LayerNorm.bias"],
                eps,
            )
        out.append(
            {
                "tokens": n,
                "mean": h.mean(0).tolist(),
                "cls": h[0].tolist(),
                "last_token": h[-1].tolist(),
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
