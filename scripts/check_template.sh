#!/usr/bin/env bash
# Lint, validate and build the SAM template with pinned tools (.venv-tools, scripts/tools_venv.sh).
#   - runs: cfn-lint, sam validate --lint, sam build; then prints artifact sizes
# Usage: scripts/check_template.sh        (from anywhere; works on a clean clone)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/tools_venv.sh
source "$ROOT/scripts/tools_venv.sh"

now() { date +%s.%N; }   # GNU date; awk does the arithmetic (no bc needed)
declare -a TIMINGS=()
step() {
  # step NAME CMD...: run, time, remember the timing
  local name="$1"; shift
  echo
  echo "==> $name: $*"
  local t0 t1
  t0="$(now)"
  "$@"
  t1="$(now)"
  TIMINGS+=("$(awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-22s %6.1fs", n, b - a }')")
}

step "tools venv" ensure_tools
echo "python: $("$PY" --version) ($PY)"
echo "cfn-lint: $("$TOOLS_VENV/bin/cfn-lint" --version)"
echo "sam: $("$TOOLS_VENV/bin/sam" --version)"

step "cfn-lint" "$TOOLS_VENV/bin/cfn-lint" template.yaml
step "sam validate --lint" "$TOOLS_VENV/bin/sam" validate --lint --template-file template.yaml
step "sam build" "$TOOLS_VENV/bin/sam" build --template-file template.yaml

echo
echo "==> built artifacts (.aws-sam/build)"
du -sh .aws-sam/build/*/ | sort -k2

echo
echo "==> timings"
printf '%s\n' "${TIMINGS[@]}"
echo "all template checks passed"
