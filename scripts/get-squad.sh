#!/usr/bin/env bash
# scripts/get-squad.sh [1.1|2.0|all] [DIR]: fetches SQuAD's train and dev
# files from the dataset's official address
# (https://rajpurkar.github.io/SQuAD-explorer/dataset/) into DIR, checks their
# sha256 and prints their paths.
#
# DIR defaults to $SQ_DATA_CACHE/squad ($SQ_DATA_CACHE: ~/.cache/sq).  A file
# already in DIR with the right sha256 is kept (so a copy made by hand is
# checked, not fetched again); each download goes to a temporary name and is
# renamed once checked.  Exit status: 0 done, 1 a download or check failed,
# 2 bad usage, 3 the address cannot be reached (the message says which file
# to copy in by hand).
#
# SQuAD (Rajpurkar et al. 2016, 2018) is distributed under CC BY-SA 4.0.
set -euo pipefail

me=get-squad.sh
die() { echo "$me: error: $*" >&2; exit 1; }
usage() { echo "usage: scripts/get-squad.sh [1.1|2.0|all] [DIR]" >&2; exit 2; }
case ${1:-1.1} in
-h | --help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
1.1) versions=(1.1) ;;
2.0) versions=(2.0) ;;
all) versions=(1.1 2.0) ;;
*) echo "$me: error: unknown version '$1'" >&2; usage ;;
esac
[ $# -le 2 ] || usage
dir=${2:-${SQ_DATA_CACHE:-$HOME/.cache/sq}/squad}
dir=${dir%/}
url=https://rajpurkar.github.io/SQuAD-explorer/dataset

# The official files' sha256, as other projects that fetch SQuAD from this
# address check them (e.g. ParlAI's SQuAD and SQuAD2 tasks).  Not checked
# here: this machine cannot reach the address, and ../shared's SQuAD files are
# reconstructions, not the official files.
declare -A want=(
    [train-v1.1.json]=3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955
    [dev-v1.1.json]=95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9
    [train-v2.0.json]=68dcfbb971bd3e96d5b46c7177b16c1a4e7d4bdef19fb204502738552dede002
    [dev-v2.0.json]=80a5225e94905956a6446d296ca1093975c4d3b3260f1d6c8f68bc2ab77182d8
)
sha256() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$dir"
tmp=
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
for v in "${versions[@]}"; do
    for split in train dev; do
        f=$split-v$v.json
        if [ -f "$dir/$f" ]; then
            got=$(sha256 "$dir/$f")
            [ "$got" = "${want[$f]}" ] ||
                die "$dir/$f: sha256 $got is not the official file's ${want[$f]} (remove it to fetch it again)"
            echo "$dir/$f"
            continue
        fi
        command -v curl >/dev/null || die "needs curl (Debian: curl)"
        tmp=$(mktemp "$dir/.$f.XXXXXX")
        if ! curl -fsSL --max-time 600 --retry 2 -o "$tmp" "$url/$f" 2>"$tmp.err"; then
            msg=$(head -n1 "$tmp.err"); rm -f "$tmp.err"
            echo "$me: error: cannot fetch $url/$f ($msg): copy the official $f (sha256 ${want[$f]}) into $dir" >&2
            exit 3
        fi
        rm -f "$tmp.err"
        got=$(sha256 "$tmp")
        [ "$got" = "${want[$f]}" ] || die "$url/$f: sha256 $got, expected ${want[$f]}"
        mv "$tmp" "$dir/$f"
        tmp=
        echo "$dir/$f"
    done
done
