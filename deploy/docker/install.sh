#!/bin/sh
# Install Postgate and a choice of its plugins into a fresh virtual environment, every
# dependency at the version pinned in the root pyproject.toml ([tool.uv] constraint-dependencies).
#
# The Dockerfile's builder stage runs this script, tests/test_container_install.py runs it outside
# Docker, and a host without containers uses it for the systemd units (deploy/systemd/README.md).
#
# usage: install.sh SOURCE_DIR VENV_DIR [PLUGINS]
#   SOURCE_DIR  a checkout of the repository (holds pyproject.toml, gateway/, plugins/)
#   VENV_DIR    where the environment goes; it must not exist yet
#   PLUGINS     "all" (default: every plugins/<name>/ that has a pyproject.toml), "none", or
#               plugin folder names separated by spaces or commas, e.g. "mysql ses"
# environment:
#   UV          the uv command (default: uv)
#   PYTHON      the interpreter the environment is made from (default: python3)
#   WHEEL_DIR   keep the built wheels and constraints.txt there (default: a temporary folder)
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 SOURCE_DIR VENV_DIR [PLUGINS]" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
venv_dir=$2
plugins=${3:-all}
uv=${UV:-uv}
python=${PYTHON:-python3}

if [ -e "$venv_dir" ]; then
    echo "install.sh: $venv_dir exists; give a new folder" >&2
    exit 2
fi

# The plugin folders to install.
case "$plugins" in
    all)
        plugin_dirs=
        for manifest in "$source_dir"/plugins/*/pyproject.toml; do
            [ -f "$manifest" ] && plugin_dirs="$plugin_dirs $(dirname "$manifest")"
        done
        ;;
    none | "")
        plugin_dirs=
        ;;
    *)
        plugin_dirs=
        for name in $(echo "$plugins" | tr ',' ' '); do
            if [ ! -f "$source_dir/plugins/$name/pyproject.toml" ]; then
                echo "install.sh: no plugin '$name' (no plugins/$name/pyproject.toml)" >&2
                exit 2
            fi
            plugin_dirs="$plugin_dirs $source_dir/plugins/$name"
        done
        ;;
esac

if [ -n "${WHEEL_DIR:-}" ]; then
    wheel_dir=$WHEEL_DIR
    mkdir -p "$wheel_dir"
else
    wheel_dir=$(mktemp -d)
    trap 'rm -rf "$wheel_dir"' EXIT
fi

# The pins, as a constraints file uv understands (name==version, with markers where needed).
"$python" - "$source_dir/pyproject.toml" "$wheel_dir/constraints.txt" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    pins = tomllib.load(handle)["tool"]["uv"]["constraint-dependencies"]
with open(sys.argv[2], "w") as out:
    out.write("\n".join(pins) + "\n")
EOF

# Wheels of the core and of each chosen plugin.
for package_dir in "$source_dir/gateway" $plugin_dirs; do
    "$uv" build --quiet --wheel --out-dir "$wheel_dir" "$package_dir"
done

# A fresh environment with those wheels and their dependencies, exactly as pinned; nothing is
# compiled from source (--no-build), so the builder needs no compiler.
"$uv" venv --quiet --python "$python" "$venv_dir"
"$uv" pip install --quiet --python "$venv_dir/bin/python" --constraints "$wheel_dir/constraints.txt" \
    --no-build "$wheel_dir"/*.whl
"$uv" pip check --quiet --python "$venv_dir/bin/python"
"$venv_dir/bin/postgate" --version
