#!/usr/bin/env bash
# Build the served tracker (src/liveinsight/dashboard/tracker/script.js) from its readable
# source script.src.js with terser from the npm registry, and record both files' sha256 in
# build.json: tests/api/test_tracker.py compares them, so a stale or hand-edited build fails
# the tests without needing Node. The built file is committed: installing or running
# LiveInsight needs no Node.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=src/liveinsight/dashboard/tracker
terser=terser@5.51.2
npx --yes "$terser" "$dir/script.src.js" \
  --compress passes=3 --mangle --ecma 2020 --output "$dir/script.js"
src_sum=$(sha256sum "$dir/script.src.js" | cut -d' ' -f1)
out_sum=$(sha256sum "$dir/script.js" | cut -d' ' -f1)
printf '{\n  "source_sha256": "%s",\n  "output_sha256": "%s",\n  "built_with": "%s"\n}\n' \
  "$src_sum" "$out_sum" "$terser" >"$dir/build.json"
echo "$dir/script.js: $(wc -c <"$dir/script.js") bytes, $(gzip -9nc "$dir/script.js" | wc -c) gzipped (limit 1536)"
