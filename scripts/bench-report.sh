#!/bin/sh
# The report's figures: render times for 1,000 and 10,000 allocations (cargo bench),
# then the 10,000-allocation page loaded in headless Chromium: time to the DOM after
# load, and to a full-page screenshot (layout and paint of every shape).
set -e
cd "$(dirname "$0")/.."
chromium=$(./scripts/setup-chromium.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/ipam-bench-report-XXXXXX")
trap 'rm -rf "$work"' EXIT
IPAM_REPORT_PAGE="$work/page.html" cargo bench --locked --quiet --bench report
flags="--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking --no-first-run --user-data-dir=$work/profile"
now() { date +%s.%N; }
# shellcheck disable=SC2086
"$chromium" $flags --dump-dom "file://$work/page.html" >/dev/null 2>&1 # warm up
t0=$(now)
# shellcheck disable=SC2086
"$chromium" $flags --dump-dom "file://$work/page.html" > "$work/dom.html" 2>/dev/null
t1=$(now)
# shellcheck disable=SC2086
"$chromium" $flags --window-size=1400,2000 --screenshot="$work/page.png" "file://$work/page.html" >/dev/null 2>&1
t2=$(now)
# shellcheck disable=SC2086
"$chromium" $flags --dump-dom "file://$work/empty.html" >/dev/null 2>&1 || true
echo "<!DOCTYPE html><title>x</title>" > "$work/empty.html"
t3=$(now)
# shellcheck disable=SC2086
"$chromium" $flags --dump-dom "file://$work/empty.html" >/dev/null 2>&1
t4=$(now)
shapes=$(grep -o 'class="alloc ' "$work/dom.html" | wc -l)
echo "Chromium $("$chromium" --version 2>/dev/null | awk '{print $2}'), 10,000-allocation page ($(du -k "$work/page.html" | cut -f1) KiB, $shapes allocation shapes in the DOM):"
echo "$t0 $t1 $t2 $t3 $t4" | awk '{printf "  load to DOM %.2f s, screenshot %.2f s; an empty page %.2f s (browser start)\n", $2-$1, $3-$2, $5-$4}'
