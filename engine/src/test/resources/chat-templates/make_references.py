#!/usr/bin/env python3
"""Renders the language snippets of snippets.json and every template in this directory on every conversation of conversations.json the way Hugging Face's
transformers renders chat templates (apply_chat_template: Jinja2's ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks and loop controls; tojson without HTML escaping; raise_exception; strftime_now), and writes
references.json. The date is fixed (strftime_now) so that the references do not change with the day.

Run: python3 make_references.py   (needs python3-jinja2; made with Jinja2 3.1.6)
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_NOW = datetime(2026, 12, 7, 16, 30, 0)


class Generation(Extension):
    """transformers' AssistantTracker without the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        spec = json.load(f)
    with open(os.path.join(HERE, "tokens.json"), encoding="utf-8") as f:
        tokens = json.load(f)
    env = environment()
    out = {}
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            template = env.from_string(f.read())
        specials = tokens[name]
        out[name] = {}
        for case, c in spec["cases"].items():
            try:
                text = template.render(messages=c["messages"], tools=spec["tools"] if c.get("with_tools") else None,
                                       add_generation_prompt=c["generation_prompt"], **specials)
                out[name][case] = {"text": text}
            except jinja2.exceptions.UndefinedError as e:  # an undefined value used as an operand
                out[name][case] = {"failed": type(e).__name__ + ": " + str(e)}
            except jinja2.exceptions.TemplateError as e:  # the template's raise_exception
                out[name][case] = {"raised": str(e)}
            except Exception as e:  # the template fails on this input (e.g. iterates tools=None)
                out[name][case] = {"failed": type(e).__name__ + ": " + str(e)}
    snippets = {}
    with open(os.path.join(HERE, "snippets.json"), encoding="utf-8") as f:
        for source in json.load(f):
            try:
                snippets[source] = {"text": env.from_string(source).render()}
            except jinja2.exceptions.UndefinedError as e:
                snippets[source] = {"failed": type(e).__name__ + ": " + str(e)}
            except jinja2.exceptions.TemplateError as e:
                snippets[source] = {"raised": str(e)}
    out["snippets"] = snippets
    with open(os.path.join(HERE, "references.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    print("rendered", sum(len(v) for v in out.values()), "cases of", len(out), "templates", file=sys.stderr)


if __name__ == "__main__":
    main()
