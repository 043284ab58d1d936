"""The load benchmarks' webhook body (scripts/bench.sh, scripts/callgrind.sh): a ~1 KiB
GitHub push-like payload that satisfies schemas/github.json, written to the path given.

    python3 benches/load/github_body.py /tmp/body.json
"""
import json
import sys

body = {
    "ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
    "repository": {"id": 1296269, "full_name": "octocat/Hello-World", "private": False,
                   "html_url": "https://github.com/octocat/Hello-World"},
    "pusher": {"name": "octocat", "email": "octocat@github.com"},
    "sender": {"login": "octocat", "id": 1, "type": "User"},
    "head_commit": {"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
                    "message": "Update README.md", "timestamp": "2026-11-23T10:00:00Z",
                    "author": {"name": "Mona Octocat", "email": "octocat@github.com"}},
}
body["padding"] = ""
text = json.dumps(body, separators=(",", ":"))
body["padding"] = "x" * max(0, 1024 - len(text))
with open(sys.argv[1], "w") as out:
    out.write(json.dumps(body, separators=(",", ":")))
