#!/usr/bin/env bash
# The layering check (docs/architecture.md "Layers"; run by `make test` as the `layers` test):
# every #include of a project folder or of OpenSSL in src/ must be one its folder may use. The
# includes that break the rule today are listed, one "file include" per line, in
# tools/layers_known_violations.txt: the check fails on any other, and on a listed one that is
# gone (remove its line), so the list only shrinks. Tests (*_test.cc, *_testutil.*) are not
# checked: they may judge a layer with what lies below it, raw OpenSSL included.
#
# Usage: tools/check_layers.sh [SOURCE_DIR]
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
known="$root/tools/layers_known_violations.txt"

# What each folder may include, besides itself ("openssl" = <openssl/...>).
declare -A allowed=(
  [core]=""
  [ossl]="core openssl"
  [pki]="ossl core openssl"
  [store]="core"
  [net]="pki ossl core openssl"
  [authority]="store pki core"
  [server]="authority store net pki core"
  [agent]="net pki core"
  [proxy]="net pki core"
  [cli]="server agent proxy authority store net pki ossl core"
)

found=$(mktemp)
trap 'rm -f "$found"' EXIT
cd "$root"
for layer in "${!allowed[@]}"; do
  [[ -d "src/$layer" ]] || continue
  while IFS= read -r -d '' file; do
    # #include "x/..." or <openssl/...>
    (grep -oE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][a-z]+/[^">]+[">]' "$file" || true) |
      sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]//; s/[">]$//' |
      while IFS= read -r inc; do
        dep=${inc%%/*}
        case "$dep" in
          core | ossl | pki | store | net | authority | server | agent | proxy | cli | openssl) ;;
          *) continue ;;  # a third-party header (boost/, nlohmann/, gtest/, ...)
        esac
        [[ "$dep" == "$layer" ]] && continue
        [[ " ${allowed[$layer]} " == *" $dep "* ]] && continue
        echo "$file $inc"
      done
  done < <(find "src/$layer" \( -name '*.h' -o -name '*.cc' \) ! -name '*_test.cc' \
    ! -name '*_testutil.*' -print0)
done | sort -u >"$found"

listed=$(grep -vE '^[[:space:]]*(#|$)' "$known" | sort -u || true)
new=$(comm -23 "$found" <(echo "$listed"))
gone=$(comm -13 "$found" <(echo "$listed"))
status=0
if [[ -n "$new" ]]; then
  echo "layers: includes that the folder's layer may not use (docs/architecture.md \"Layers\"):"
  echo "$new" | sed 's/^/  /'
  echo "move the code down to a layer the folder may use, or include that layer's header instead"
  status=1
fi
if [[ -n "$gone" ]]; then
  echo "layers: fixed, remove these lines from tools/layers_known_violations.txt:"
  echo "$gone" | sed 's/^/  /'
  status=1
fi
if [[ $status -eq 0 ]]; then
  echo "layers: ok ($(wc -l <"$found") known exceptions left in tools/layers_known_violations.txt)"
fi
exit $status
