#!/usr/bin/env bash
# Lint, validate and build the SAM template with pinned tools.
#   - tools live in .venv-tools (aws-sam-cli pins its own boto3; it must not share .venv)
#   - .venv-tools is (re)installed only when tools-requirements.txt changes
#   - runs: cfn-lint, sam validate --lint, sam build; then prints artifact sizes
# Usage: scripts/check_template.sh        (from anywhere; works on a clean clone)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS_VENV="$ROOT/.venv-tools"
REQS="$ROOT/tools-requirements.txt"
STAMP="$TOOLS_VENV/.tools-requirements.sha256"

export SAM_CLI_TELEMETRY=0

# Pick the interpreter: pyenv 3.12 if present, else python3.12 on PATH, else python3.
pick_python() {
  local pyenv_py=/root/.pyenv/versions/3.12.1/bin/python3.12
  if [[ -x "$pyenv_py" ]]; then
    echo "$pyenv_py"
  elif command -v python3.12 >/dev/null 2>&1; then
    command -v python3.12
  else
    command -v python3
  fi
}

PY="$(pick_python)"
# `sam build` looks up `python3.12` on PATH to build python3.12 functions and layers.
PY_DIR="$(dirname "$PY")"
if [[ "$(basename "$PY")" != "python3.12" ]] && ! command -v python3.12 >/dev/null 2>&1; then
  echo "warning: no python3.12 found; sam build for runtime python3.12 will likely fail" >&2
fi
export PATH="$PY_DIR:$PATH"

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

ensure_tools() {
  local want have=""
  want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  [[ -f "$STAMP" ]] && have="$(cat "$STAMP")"
  if [[ -x "$TOOLS_VENV/bin/sam" && -x "$TOOLS_VENV/bin/cfn-lint" && "$want" == "$have" ]]; then
    echo "tools venv up to date ($TOOLS_VENV)"
    return
  fi
  if [[ ! -x "$TOOLS_VENV/bin/python" ]]; then
    "$PY" -m venv "$TOOLS_VENV"
  fi
  "$TOOLS_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$TOOLS_VENV/bin/python" -m pip install --quiet -r "$REQS"
  echo "$want" > "$STAMP"
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
