#!/usr/bin/env bash
# Regenerates the policy block of deploy/member-role.yaml (the member role
# a StackSet rolls out) from what the shipped policies need, as
# deploy/iam-policy.json is: run after a policy or a resource type changes.
# tests/iam.rs fails while the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -- iam-policy --policies policies --config deploy/costguard.yaml > deploy/iam-policy.json
python3 - <<'PY'
import json
doc = json.load(open("deploy/iam-policy.json"))
body = "\n".join("            " + line for line in json.dumps(doc, indent=2, sort_keys=True).split("\n"))
lines = open("deploy/member-role.yaml").read().split("\n")
begin = next(i for i, l in enumerate(lines) if "# BEGIN generated" in l)
end = next(i for i, l in enumerate(lines) if "# END generated" in l)
open("deploy/member-role.yaml", "w").write("\n".join(lines[: begin + 1] + body.split("\n") + lines[end:]))
PY
echo "deploy/iam-policy.json and deploy/member-role.yaml regenerated"
