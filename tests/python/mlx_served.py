"""Drives the main job's OpenAI-compatible API served from real MLX models (`--serve` with
`--backend mlx`: the test set-up's tiny Llama and all-MiniLM-L6-v2) with the official `openai`
Python client: the models listing, a chat completion, a streamed chat with usage, embeddings and
an unknown model. Every response must parse into the client's own types; any mismatch exits
non-zero. Run by scripts/test-all.sh's MLX step.

Usage: python mlx_served.py BASE_URL
"""

import math
import sys
import time

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion


def wait_until_up(client: openai.OpenAI) -> list:
    deadline = time.monotonic() + 60
    while True:
        try:
            return [m.id for m in client.models.list().data]
        except openai.APIConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def main() -> None:
    client = openai.OpenAI(base_url=sys.argv[1], api_key="not-needed", max_retries=0, timeout=60)
    models = wait_until_up(client)
    assert models == ["tiny-llama", "all-MiniLM-L6-v2"], models

    chat = client.chat.completions.create(
        model="tiny-llama",
        messages=[{"role": "user", "content": "The sky is"}],
        max_tokens=8,
    )
    assert isinstance(chat, ChatCompletion), type(chat)
    assert chat.choices[0].finish_reason == "length", chat.choices[0].finish_reason
    assert chat.usage.completion_tokens == 8, chat.usage
    assert chat.usage.prompt_tokens > 0, chat.usage

    chunks = list(
        client.chat.completions.create(
            model="tiny-llama",
            messages=[{"role": "user", "content": "Once upon a time"}],
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 6, usage
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text, "the stream carried no text"

    texts = ["hello world", "a much longer sentence about telemetry and inference services"]
    embeddings = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    assert isinstance(embeddings, CreateEmbeddingResponse), type(embeddings)
    assert len(embeddings.data) == 2, len(embeddings.data)
    for item in embeddings.data:
        assert len(item.embedding) == 384, len(item.embedding)
        assert all(math.isfinite(x) for x in item.embedding)
    assert embeddings.usage.prompt_tokens > 0, embeddings.usage

    try:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        raise AssertionError("an unknown model was served")
    except openai.NotFoundError as e:
        assert e.body["code"] == "model_not_found", e.body

    print(
        f"MLX served through the openai client: chat {chat.usage.completion_tokens} tokens, "
        f"stream {len(chunks)} chunks, embeddings {len(embeddings.data)}x{len(embeddings.data[0].embedding)}"
    )


if __name__ == "__main__":
    main()
