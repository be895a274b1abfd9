#!/usr/bin/env bash
# One command-line style for every tool (sq/cli.h): --help starts with
# "Usage: sq-<tool>", lists -h/--help and -V/--version and ends with the exit
# statuses; -V is --version; a mistyped option gets "did you mean"; -f, where
# a tool has it, is --force.
source "$(dirname "$0")/../lib.sh"
for tool in sq-tokenize sq-pack sq-eval sq-inspect; do
    t=$SQ_BIN/$tool
    "$t" --help >"$T/help" || fail "$tool --help exited $?"
    head -1 "$T/help" | grep -q "^Usage: $tool " || fail "$tool --help: first line $(head -1 "$T/help")"
    grep -Eq '^  -h, --help +show this help and exit$' "$T/help" || fail "$tool --help lacks -h, --help"
    grep -Eq '^  -V, --version +show the version and exit$' "$T/help" || fail "$tool --help lacks -V, --version"
    tail -2 "$T/help" | tr '\n' ' ' | grep -q '^Exit status: 0 on success, 1 for bad input .*, 2 for bad usage\. $' ||
        fail "$tool --help does not end with the exit statuses: $(tail -2 "$T/help")"
    if grep -Eq '^  -f, ' "$T/help"; then
        grep -Eq '^  -f, --force ' "$T/help" || fail "$tool: -f is not --force: $(grep -E '^  -f, ' "$T/help")"
    fi
    [ "$("$t" -V)" = "$("$t" --version)" ] || fail "$tool -V differs from --version"
    "$t" -V | grep -Eq "^$tool [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+" || fail "$tool -V: $("$t" -V)"
    expect_fail 2 "^$tool: error: unknown option '--hlep'; did you mean --help\\?$" "$t" --hlep
    grep -q "^Try '$tool --help' for more information.$" "$T/.err" || fail "$tool: no hint to --help"
    expect_fail 2 "^$tool: error: option '--help' takes no value$" "$t" --help=1
    # A bad letter inside a cluster is named as itself, not as the argument before it.
    expect_fail 2 "^$tool: error: unknown option '-x'$" "$t" --output="$T/x" -xh
    expect_fail 2 "^$tool: error: option '--output' needs a value$" "$t" --output
done
echo ok
