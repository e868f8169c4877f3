#!/usr/bin/env bash
# Installs the offline deployment tools that tests/deploy uses, idempotently:
#   helm-python-sdk, kubernetes-validate -> the project venv (.venv)
#   checkov                              -> its own venv (.venv-checkov)
# A tool set is (re)installed only when its requirements file changed since
# the last install (a stamp in each venv holds the file's hash).
# Run from anywhere:  deploy/tools/install-tools.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"

hash_of() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# install VENV REQUIREMENTS STAMP [pip options…]
install() {
    local venv="$1" requirements="$2" stamp="$1/$3"; shift 3
    local want; want="$(hash_of "$requirements")"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "install-tools: $requirements already installed in $venv"
        return
    fi
    echo "install-tools: installing $requirements into $venv"
    "$venv/bin/python" -m pip install -qq --disable-pip-version-check "$@" -r "$requirements"
    "$venv/bin/python" -m pip check >/dev/null
    echo "$want" > "$stamp"
    if [[ -x "$venv/bin/checkov" ]]; then "$venv/bin/checkov" --version >/dev/null; fi
}

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "install-tools: $VENV does not exist; run 'make install' first" >&2
    exit 1
fi
install "$VENV" deploy/requirements-tools.txt .deploy-tools-installed

if [[ ! -x "$CHECKOV_VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$CHECKOV_VENV"
fi
install "$CHECKOV_VENV" deploy/requirements-checkov.txt .checkov-installed --no-deps
