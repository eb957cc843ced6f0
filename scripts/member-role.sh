#!/usr/bin/env bash
# Regenerates the generated IAM policies from what the shipped policies
# need: deploy/iam-policy.json, the policy block of deploy/member-role.yaml
# (the member role a StackSet rolls out), and the task role's block of
# deploy/costguard-stack.yaml (the image's config, deploy/costguard-ecs.yaml,
# with the stack's events queue). Run after a policy or a resource type
# changes; tests/iam.rs and tests/deploy.rs fail while they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -- iam-policy --policies policies --config deploy/costguard.yaml > deploy/iam-policy.json
cargo run -q -- iam-policy --policies policies --config deploy/costguard-ecs.yaml \
  --events-queue 'https://sqs.*.amazonaws.com/*/costguard-events' > target/stack-policy.json
python3 - <<'PY'
import json

def embed(template, policy):
    doc = json.load(open(policy))
    body = "\n".join("            " + line for line in json.dumps(doc, indent=2, sort_keys=True).split("\n"))
    lines = open(template).read().split("\n")
    begin = next(i for i, l in enumerate(lines) if "# BEGIN generated" in l)
    end = next(i for i, l in enumerate(lines) if "# END generated" in l)
    open(template, "w").write("\n".join(lines[: begin + 1] + body.split("\n") + lines[end:]))

embed("deploy/member-role.yaml", "deploy/iam-policy.json")
embed("deploy/costguard-stack.yaml", "target/stack-policy.json")
PY
echo "deploy/iam-policy.json, deploy/member-role.yaml and deploy/costguard-stack.yaml regenerated"
