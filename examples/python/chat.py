#!/usr/bin/env python3
"""A conversation with RazorStream over its OpenAI-compatible HTTP API, with nothing but Python's standard library.

Each message is sent the way OpenAI clients do it: the whole conversation so far, every time. The session id
(X-Session-Id) lets the service keep the conversation's KV cache between requests, so it prefills only the new
message; the usage it returns shows that (prompt_tokens: prefilled now, cached_tokens: already held).

    python3 examples/python/chat.py --session demo "Note this. The code is #K7Q2. Remember the code #" " Again, the code is #"

Why HTTP and not gRPC from Python: Debian's python3-grpcio ships protoc 3.5.1 (grpc_tools), which rejects the
proto's 'optional' fields, and the stubs Maven generates need a newer python3-protobuf than Debian has.
"""
import argparse
import json
import sys
import urllib.error
import urllib.request


def post(base_url, body, session, api_key):
    headers = {"Content-Type": "application/json"}
    if session:
        headers["X-Session-Id"] = session
    if api_key:
        headers["Authorization"] = "Bearer " + api_key
    request = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(), headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=600)
    except urllib.error.HTTPError as e:  # the service answers errors in OpenAI's shape: {"error": {"message", "type", ...}}
        error = json.loads(e.read() or b"{}").get("error", {})
        sys.exit(f"chat.py: HTTP {e.code} {error.get('type', '')}: {error.get('message', e.reason)}")
    except urllib.error.URLError as e:
        sys.exit(f"chat.py: cannot reach {base_url}: {e.reason} (is 'bin/razorstream serve' running?)")


def complete(base_url, messages, args):
    """One request; returns (reply text, usage). Streams the reply to stdout as it comes unless --json."""
    body = {"messages": messages, "max_tokens": args.max_tokens, "stream": args.stream}
    if args.stream:
        body["stream_options"] = {"include_usage": True}
    response = post(base_url, body, args.session, args.api_key)
    if not args.stream:
        answer = json.load(response)
        return answer["choices"][0]["message"]["content"], answer["usage"]
    text, usage = "", None
    for line in response:  # server-sent events: "data: {chunk}" lines, then "data: [DONE]"
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            sys.exit(f"chat.py: the reply failed: {chunk['error']['message']}")
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            piece = choice["delta"].get("content") or ""
            text += piece
            if not args.json:
                print(piece, end="", flush=True)
    if not args.json:
        print()
    return text, usage


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("messages", nargs="+", help="user messages, sent one after the other")
    p.add_argument("--base-url", default="http://127.0.0.1:8080/v1", help="the service's /v1 URL (default: %(default)s)")
    p.add_argument("--session", help="session id (default: none, each request a one-off)")
    p.add_argument("--api-key", help="API key, when the service has auth.keys-file")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--stream", action="store_true", help="stream each reply as it is generated")
    p.add_argument("--json", action="store_true", help="print one JSON line per turn (reply and usage) instead of the text")
    args = p.parse_args()
    conversation = []
    for message in args.messages:
        conversation.append({"role": "user", "content": message})
        reply, usage = complete(args.base_url, conversation, args)
        conversation.append({"role": "assistant", "content": reply})
        if args.json:
            print(json.dumps({"reply": reply, "usage": usage}), flush=True)
        elif not args.stream:
            print(reply)


if __name__ == "__main__":
    main()
