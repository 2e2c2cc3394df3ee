#!/usr/bin/env bash
# `make deploy-check`: a rehearsal of `sam deploy` without an AWS account (README, "Deploying").
#   1. sam build                                   (tools venv, .venv-tools)
#   2. the SAM transform, offline                  (aws-sam-translator from the tools venv: translate.py)
#   3. the stacks created in an emulated account   (moto's CloudFormation in the app venv: rehearse.py)
# Usage: scripts/deploy_check.sh [--no-build]   (--no-build: use the .aws-sam/build that is there, e.g.
#                                                 right after scripts/check_template.sh in CI)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/tools_venv.sh
source "$ROOT/scripts/tools_venv.sh"

start=$(date +%s)
OUT="$ROOT/.aws-sam/deploy-check"
ensure_tools
make --no-print-directory .venv/.installed
if [[ "${1:-}" != "--no-build" ]]; then
  echo "==> sam build"
  "$TOOLS_VENV/bin/sam" build --template-file template.yaml
fi

echo "==> the SAM transform, offline (aws-sam-translator $("$TOOLS_VENV/bin/python" -c 'import samtranslator; print(samtranslator.__version__)'))"
rm -rf "$OUT"
"$TOOLS_VENV/bin/python" scripts/deploy_check/translate.py .aws-sam/build "$OUT" \
  "dev=$(.venv/bin/python scripts/deploy_check/rehearse.py parameters dev)" \
  "prod=$(.venv/bin/python scripts/deploy_check/rehearse.py parameters prod)"

echo "==> the stacks, in an emulated account (moto $(.venv/bin/python -c 'import moto; print(moto.__version__)'))"
.venv/bin/python scripts/deploy_check/rehearse.py "$OUT"
echo "deploy-check passed in $(( $(date +%s) - start )) s"
