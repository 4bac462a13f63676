"""The reference for the MLX backend's generation tests: PyPI mlx-lm loads the model directory
(argv[1]) and generates greedily from the prompt (argv[2]) for at most argv[3] tokens, stopping
at the model's end-of-sequence token. Prints JSON: the prompt's token ids, the generated ids and
their text (decoded with mlx-lm's tokenizer wrapper, special tokens skipped)."""

import json
import sys

import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import generate_step


def main():
    path, prompt, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model, tokenizer = load(path)
    ids = tokenizer.encode(prompt)
    eos = set(tokenizer.eos_token_ids)
    out = []
    for token, _ in generate_step(mx.array(ids), model, max_tokens=max_tokens):
        token = int(token)
        out.append(token)
        if token in eos:
            break
    text = tokenizer.decode(out, skip_special_tokens=True)
    print(json.dumps({"prompt_ids": ids, "tokens": out, "text": text}))


if __name__ == "__main__":
    main()
