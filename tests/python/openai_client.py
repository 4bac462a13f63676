"""Drives the main job's OpenAI-compatible API with the official `openai` Python client.

Usage: python openai_client.py BASE_URL TRACEPARENT_CHAT TRACEPARENT_STREAM TRACEPARENT_EMBED

Every response must parse into the client's own types (the script asserts it); what the
Rust test checks against Phoenix and /metrics is printed as one JSON object on stdout.
"""

import json
import sys

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk


def main() -> None:
    base_url, tp_chat, tp_stream, tp_embed = sys.argv[1:5]
    client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=30)
    out = {"openai_version": openai.__version__}

    models = client.models.list()
    out["models"] = [m.id for m in models.data]

    chat = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
        max_tokens=16,
        extra_headers={"traceparent": tp_chat},
    )
    assert isinstance(chat, ChatCompletion), type(chat)
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].finish_reason in ("stop", "length")
    out["chat"] = {
        "content": chat.choices[0].message.content,
        "prompt_tokens": chat.usage.prompt_tokens,
        "completion_tokens": chat.usage.completion_tokens,
        "finish_reason": chat.choices[0].finish_reason,
    }

    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Count to ten."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"traceparent": tp_stream},
    )
    chunks = 0
    text = []
    usage = None
    for chunk in stream:
        assert isinstance(chunk, ChatCompletionChunk), type(chunk)
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert usage is not None, "include_usage: the last chunk carries usage"
    out["stream"] = {
        "chunks": chunks,
        "content_chunks": len(text),
        "text": "".join(text),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }

    embeddings = client.embeddings.create(
        model="text-embedding-3-small",
        input=["first document", "second document"],
        extra_headers={"traceparent": tp_embed},
    )
    assert isinstance(embeddings, CreateEmbeddingResponse), type(embeddings)
    # The client asked for base64 (its default) and decoded it into floats.
    vector = embeddings.data[0].embedding
    out["embeddings"] = {
        "count": len(embeddings.data),
        "dimension": len(vector),
        "norm": sum(x * x for x in vector) ** 0.5,
        "prompt_tokens": embeddings.usage.prompt_tokens,
    }

    errors = []
    try:
        client.chat.completions.create(
            model="gpt-9-imaginary", messages=[{"role": "user", "content": "hi"}]
        )
        errors.append({"unexpected": "success"})
    except openai.NotFoundError as e:
        errors.append({"status": e.status_code, "code": e.code, "type": e.type, "param": e.param})
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
        errors.append({"unexpected": "success"})
    except openai.BadRequestError as e:
        errors.append({"status": e.status_code, "code": e.code, "type": e.type, "param": e.param})
    out["errors"] = errors

    print(json.dumps(out))


if __name__ == "__main__":
    main()
