# Sourced by check_template.sh and deploy_check.sh: the pinned SAM CLI and cfn-lint in .venv-tools.
#   - tools live in .venv-tools (aws-sam-cli pins its own boto3; it must not share .venv)
#   - .venv-tools is (re)installed only when tools-requirements.txt changes
# Sets PY, TOOLS_VENV and PATH (sam build looks up python3.12 there); defines ensure_tools.

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
