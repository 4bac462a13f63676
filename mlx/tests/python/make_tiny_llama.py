"""Writes a tiny random Llama checkpoint into a directory (argv[1]): config.json (2 layers,
hidden 64, 4 heads of which 2 key/value heads), model.safetensors (float32, seeded random
weights) and tokenizer.json + tokenizer_config.json (a byte-level BPE trained on a fixed text).
Deterministic: the same files every run. Used by the MLX backend's tests, whose reference is
PyPI mlx-lm running the same directory."""

import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Telemetry turns every inference call into events, spans and metrics.",
    "A tiny model with random weights still generates tokens one at a time.",
    "Once upon a time there was a small language model that liked numbers: 1 2 3 4 5.",
    "The sky is blue, the grass is green and the cache is warm.",
] * 4


def tokenizer(path):
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    # Prepends <s> like Llama's tokenizers do.
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    tok.save(os.path.join(path, "tokenizer.json"))
    return tok


def main():
    path = sys.argv[1]
    os.makedirs(path, exist_ok=True)
    tok = tokenizer(path)
    vocab = tok.get_vocab_size()
    hidden, layers, heads, kv_heads, inter = 64, 2, 4, 2, 128
    head_dim = hidden // heads
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab,
        "max_position_embeddings": 256,
        "tie_word_embeddings": False,
        "bos_token_id": tok.token_to_id("<s>"),
        "eos_token_id": tok.token_to_id("</s>"),
        "torch_dtype": "float32",
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "add_bos_token": True,
                "model_max_length": 256,
            },
            f,
            indent=2,
        )
    rng = np.random.default_rng(20261206)

    def w(*shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors = {"model.embed_tokens.weight": w(vocab, hidden, scale=1.0)}
    for i in range(layers):
        p = f"model.layers.{i}"
        tensors[f"{p}.input_layernorm.weight"] = (1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
        tensors[f"{p}.post_attention_layernorm.weight"] = (1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
        tensors[f"{p}.self_attn.q_proj.weight"] = w(heads * head_dim, hidden)
        tensors[f"{p}.self_attn.k_proj.weight"] = w(kv_heads * head_dim, hidden)
        tensors[f"{p}.self_attn.v_proj.weight"] = w(kv_heads * head_dim, hidden)
        tensors[f"{p}.self_attn.o_proj.weight"] = w(hidden, heads * head_dim)
        tensors[f"{p}.mlp.gate_proj.weight"] = w(inter, hidden)
        tensors[f"{p}.mlp.up_proj.weight"] = w(inter, hidden)
        tensors[f"{p}.mlp.down_proj.weight"] = w(hidden, inter)
    tensors["model.norm.weight"] = np.ones(hidden, dtype=np.float32)
    tensors["lm_head.weight"] = w(vocab, hidden, scale=3.0 / np.sqrt(hidden))
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    main()
