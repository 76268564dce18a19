#!/usr/bin/env bash
# kiwipiepy and its model package for the GPU machine, in two folders under the 64 MiB one device
# call may carry: lessons 03a and 03b segment Korean with kiwipiepy, whose model package is an
# 84 MB wheel. Run in the repository root:
#     bench/kiwi_carry.sh            # builds .kiwi1 (kiwipiepy + the first 50 MB) and .kiwi2 (the rest)
# On the device, in two calls of one lease:
#     call 1, carry .kiwi1:  mkdir -p /tmp/keep/kiwi && cp .kiwi1/* /tmp/keep/kiwi/
#     call 2, carry .kiwi2:  cp .kiwi2/* /tmp/keep/kiwi/ && bash /tmp/keep/kiwi/install.sh /tmp/site3
#                            export PYTHONPATH=/tmp/site3:$PYTHONPATH
set -euo pipefail
tmp=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$tmp" kiwipiepy==0.24.1
python3 -m pip download -q --no-deps -d "$tmp" kiwipiepy_model==0.24.0
python3 -m pip wheel -q --no-deps -w "$tmp" "$tmp"/kiwipiepy_model-0.24.0.tar.gz
rm -rf .kiwi1 .kiwi2 && mkdir -p .kiwi1 .kiwi2
cp "$tmp"/kiwipiepy-0.24.1-*.whl .kiwi1/
split -b 50M -d "$tmp"/kiwipiepy_model-0.24.0-py3-none-any.whl .kiwi1/model.whl.part.
mv .kiwi1/model.whl.part.01 .kiwi2/
cat > .kiwi2/install.sh <<'EOF'
#!/usr/bin/env bash
# Join the model wheel's parts and install both wheels into $1 (no network).
set -euo pipefail
here=$(dirname "$0")
cat "$here"/model.whl.part.* > "$here"/kiwipiepy_model-0.24.0-py3-none-any.whl
python3 -m pip install -q --no-index --no-deps --target "$1" "$here"/kiwipiepy-0.24.1-*.whl \
  "$here"/kiwipiepy_model-0.24.0-py3-none-any.whl
EOF
EXCL=$(git rev-parse --git-path info/exclude)
for d in .kiwi1 .kiwi2; do grep -qxF "/$d/" "$EXCL" 2>/dev/null || echo "/$d/" >> "$EXCL"; done
rm -rf "$tmp"
du -sh .kiwi1 .kiwi2
