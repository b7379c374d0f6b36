#!/usr/bin/env bash
# Fetch the dashboard's third-party browser libraries from the npm registry and copy their
# built files (with their licenses) into src/liveinsight/dashboard/static/vendor/.
# The results are committed, so running LiveInsight needs no Node; run this (needs npm) only
# to upgrade. Versions are pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOT=1.6.32
JSVECTORMAP=1.7.0
DEST=src/liveinsight/dashboard/static/vendor
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "uplot@$UPLOT" "jsvectormap@$JSVECTORMAP" >/dev/null)
mkdir -p "$DEST"
tar -xzf "$TMP/uplot-$UPLOT.tgz" -C "$TMP" && mv "$TMP/package" "$TMP/uplot"
tar -xzf "$TMP/jsvectormap-$JSVECTORMAP.tgz" -C "$TMP" && mv "$TMP/package" "$TMP/jsvectormap"
cp "$TMP/uplot/dist/uPlot.iife.min.js" "$TMP/uplot/dist/uPlot.min.css" "$DEST/"
cp "$TMP/uplot/LICENSE" "$DEST/uPlot.LICENSE"
cp "$TMP/jsvectormap/dist/jsvectormap.min.js" "$TMP/jsvectormap/dist/jsvectormap.min.css" "$DEST/"
cp "$TMP/jsvectormap/dist/maps/world.js" "$DEST/jsvectormap-world.js"
cp "$TMP/jsvectormap/LICENSE" "$DEST/jsvectormap.LICENSE"
cat > "$DEST/VERSIONS" <<VERSIONS
uplot $UPLOT (MIT) https://github.com/leeoniya/uPlot
jsvectormap $JSVECTORMAP (MIT) https://github.com/themustafaomar/jsvectormap
VERSIONS
echo "vendored into $DEST:"
ls -la "$DEST"
