#!/usr/bin/env bash
# Rebuilds plots.html: DVC's plots page with Vega, Vega-Lite and vega-embed inlined, so that
# `dvc plots show` renders without internet. The versions are the ones DVC's own page loads
# (dvc_render.vega.VegaRenderer.SCRIPTS). Run from this folder; needs npm (the npm registry).
set -euo pipefail
cd "$(dirname "$0")"
packages=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null && for t in *.tgz; do mkdir "${t%.tgz}" && tar -xzf "$t" -C "${t%.tgz}"; done)
: > LICENSES
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n    {refresh_tag}\n    <meta charset="utf-8">\n    <title>DVC Plot</title>\n'
  for p in "${packages[@]}"; do
    name=${p%@*}; dir=$(ls -d "$work/$name"-[0-9]*/ | head -1); dir=${dir%/}; js="$dir/package/build/$name.min.js"
    printf '    <!-- %s, inlined from the npm registry; licence in LICENSES -->\n    <script>\n' "$p"
    sed 's#</script#<\\/script#g' "$js"
    printf '\n    </script>\n'
    { printf '%s\n\n' "== $p =="; cat "$dir/package/LICENSE"; printf '\n'; } >> LICENSES
  done
  printf '    <style>\n        table {\n            border-spacing: 15px;\n        }\n    </style>\n</head>\n<body>\n    {plot_divs}\n</body>\n</html>\n'
} > plots.html
ls -l plots.html LICENSES
