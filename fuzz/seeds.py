#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (git-ignored).

Seeds come from the SDK-made provider vectors in ../shared/vectors/providers.json, written in
the text format of `hookwall::fuzzing` (see src/pipeline/fuzz.rs), from the repository's configs and
schemas-shaped bodies, and from the hand-written seeds committed under fuzz/seeds/<target>/.
Only the standard library is used. Run from anywhere: `python3 fuzz/seeds.py`.
"""

import base64
import gzip
import json
import pathlib
import shutil

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
VECTORS = REPO.parent / "shared" / "vectors" / "providers.json"

# The families of src/providers/fuzz.rs: which signature target reads which preset.
FAMILIES = {
    "signature_lists": ["stripe", "paddle", "standard-webhooks", "svix"],
    "hmac_headers": ["github", "shopify", "slack", "bitbucket", "intercom", "typeform",
                     "square", "zoom", "linear", "hmac"],
    "urls_and_bodies": ["twilio", "mailgun"],
    "public_keys": ["discord", "sendgrid", "standard-webhooks"],
    "credentials": ["particle", "brightdata", "token", "gitlab", "none"],
}
TARGETS = list(FAMILIES) + ["client_ip", "body", "config", "framing"]

JSON, FORM, NDJSON, OPAQUE = 0, 1, 2, 3
SNIFF = 0b100
DECLARE_GZIP = 0b01 << 3


def body_of(vector):
    if "body_base64" in vector:
        return base64.b64decode(vector["body_base64"])
    return vector["body"].encode()


def request_case(vector):
    """A vector as a signature-target case: preset, key material, clock, headers, body."""
    lines = [vector["provider"]]
    if vector.get("secret"):
        lines.append(f"@secret: {vector['secret']}")
    if vector.get("public_key"):
        lines.append(f"@key: {vector['public_key']}")
    url = vector.get("url")
    if url:
        # As the gateway sees it: public_url from the config, the query from the request.
        base, _, query = url.partition("?")
        lines.append(f"@url: {base}")
        if query:
            lines.append(f"@query: {query}")
    if "verify_at" in vector:
        lines.append(f"@now: {vector['verify_at']}")
    for name, value in vector["headers"].items():
        lines.append(f"{name}: {value}")
    if vector.get("content_type"):
        lines.append(f"Content-Type: {vector['content_type']}")
    return "\n".join(lines).encode() + b"\n\n" + body_of(vector)


def body_case(kind, body, flags=0, depth=64):
    return bytes([kind | flags, depth]) + body


def main():
    corpus = FUZZ / "corpus"
    for target in TARGETS:
        (corpus / target).mkdir(parents=True, exist_ok=True)
    written = {target: 0 for target in TARGETS}

    def write(target, name, data):
        safe = "".join(c if c.isalnum() else "-" for c in name)[:80]
        (corpus / target / f"seed-{safe}").write_bytes(data)
        written[target] += 1

    vectors = json.loads(VECTORS.read_text())["vectors"]
    for index, vector in enumerate(vectors):
        name = f"{vector['provider']}-{index}-{vector['name']}"
        for target, family in FAMILIES.items():
            if vector["provider"] in family:
                write(target, name, request_case(vector))
        content_type = vector.get("content_type", "application/json")
        kind = FORM if "form" in content_type else JSON
        body = body_of(vector)
        if body[:2] == b"\x1f\x8b":
            write("body", name + "-sniffed", body_case(kind, body, SNIFF))
            write("body", name + "-declared", body_case(kind, body, DECLARE_GZIP))
        else:
            write("body", name, body_case(kind, body))
            write("body", name + "-gzip", body_case(kind, gzip.compress(body), DECLARE_GZIP))

    # Bodies the vectors lack: NDJSON, deep nesting near the limit, a small gzip bomb.
    write("body", "ndjson", body_case(NDJSON, b'{"url":"a"}\r\n\n{"url":"b","n":[1,{"x":"]"}]}\n'))
    write("body", "deep", body_case(JSON, b"[" * 70 + b"]" * 70))
    write("body", "bomb", body_case(JSON, gzip.compress(b"[" + b" " * 1_000_000 + b"]"), SNIFF))
    write("body", "schema", body_case(JSON, b'{"id":"evt_1","n":9,"tags":["a","b"],"at":"2024-01-01T00:00:00Z","any":{"id":"x_2"}}', 5 << 5))

    # Configs: the shipped ones, the examples of docs/configuration.md are in fuzz/seeds/config.
    for path in [REPO / "examples" / "hookwall.toml", REPO / "deploy" / "hookwall.toml"]:
        write("config", path.parent.name + "-" + path.name, path.read_bytes())

    # The committed hand-written seeds.
    for target in TARGETS:
        hand = FUZZ / "seeds" / target
        if hand.is_dir():
            for path in sorted(hand.iterdir()):
                shutil.copyfile(path, corpus / target / f"hand-{path.name}")
                written[target] += 1

    for target in TARGETS:
        print(f"seeds: {target}: {written[target]}")


if __name__ == "__main__":
    main()
