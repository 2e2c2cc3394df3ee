# Sourced by check_template.sh and deploy_check.sh: the pinned SAM CLI and cfn-lint in .venv-tools.
#   - tools live in .venv-tools (aws-sam-cli pins its own boto3; it must not share .venv)
#   - .venv-tools is (re)installed only when tools-requirements.txt changes
# Sets PY, TOOLS_VENV and PATH (sam build looks up python3.12 there); defines ensure_tools.

TOOLS_VENV="$ROOT/.venv-tools"
REQS="$ROOT/tools-requirements.txt"
STAMP="$TOOLS_VENV/.tools-requirements.sha256"

export SAM_CLI_TELEMETRY=0

# The interpreter: Python 3.12, the Lambda runtime of template.yaml (`sam build` looks up `python3.12`).
# Looked for, in order: $PYTHON312; python3.12 on PATH; pyenv's versions ($PYENV_ROOT or ~/.pyenv);
# uv-managed ones (`uv python find 3.12`, or $UV_PYTHON_INSTALL_DIR / ~/.local/share/uv/python). Each
# candidate is run to check its version, and its real executable is used (not a pyenv shim).
PYTHON_WANTED="3.12"

_real_python() {
  # _real_python CANDIDATE: prints the real executable if CANDIDATE runs and is Python $PYTHON_WANTED.
  local candidate="$1"
  [[ -n "$candidate" && -x "$candidate" ]] || return 1
  "$candidate" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$PYTHON_WANTED'; print(sys.executable)" \
    2>/dev/null
}

pick_python() {
  local candidate found pyenv_root uv_dir
  local -a candidates=()
  [[ -n "${PYTHON312:-}" ]] && candidates+=("$PYTHON312")
  candidate="$(command -v "python$PYTHON_WANTED" 2>/dev/null || true)"
  [[ -n "$candidate" ]] && candidates+=("$candidate")
  pyenv_root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}"
  for candidate in $(ls -d "$pyenv_root"/versions/"$PYTHON_WANTED".* 2>/dev/null | sort -rV); do
    candidates+=("$candidate/bin/python$PYTHON_WANTED")
  done
  if command -v uv >/dev/null 2>&1; then
    candidate="$(uv python find "$PYTHON_WANTED" 2>/dev/null || true)"
    [[ -n "$candidate" ]] && candidates+=("$candidate")
  fi
  uv_dir="${UV_PYTHON_INSTALL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/uv/python}"
  for candidate in $(ls -d "$uv_dir"/cpython-"$PYTHON_WANTED".* 2>/dev/null | sort -rV); do
    candidates+=("$candidate/bin/python$PYTHON_WANTED")
  done
  for candidate in "${candidates[@]}"; do
    if found="$(_real_python "$candidate")" && [[ -n "$found" ]]; then
      echo "$found"
      return 0
    fi
  done
  return 1
}

if ! PY="$(pick_python)"; then
  cat >&2 <<EOM
error: Python $PYTHON_WANTED not found. The functions run on the Lambda runtime python$PYTHON_WANTED, and
\`sam build\` builds them with a python$PYTHON_WANTED on PATH. Looked for: \$PYTHON312, python$PYTHON_WANTED on PATH,
pyenv's versions (${PYENV_ROOT:-~/.pyenv}/versions/$PYTHON_WANTED.*), uv-managed ones (uv python find $PYTHON_WANTED).
Install one of these ways, then run this again:
  uv python install $PYTHON_WANTED                 # https://docs.astral.sh/uv/
  pyenv install $PYTHON_WANTED                     # https://github.com/pyenv/pyenv
  sudo apt-get install python$PYTHON_WANTED python$PYTHON_WANTED-venv   # Debian/Ubuntu (deadsnakes PPA on older ones)
  brew install python@$PYTHON_WANTED               # macOS
or point PYTHON312 at an interpreter: PYTHON312=/path/to/python$PYTHON_WANTED make check-template
EOM
  return 1 2>/dev/null || exit 1
fi
# `sam build` looks up `python3.12` on PATH to build python3.12 functions and layers: the chosen one's
# directory first. Its file may be named python3 (a uv or venv layout): then a link named python3.12.
PY_DIR="$(dirname "$PY")"
if [[ ! -x "$PY_DIR/python$PYTHON_WANTED" ]]; then
  PY_DIR="$ROOT/.venv-tools-bin"
  mkdir -p "$PY_DIR"
  ln -sf "$PY" "$PY_DIR/python$PYTHON_WANTED"
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
