#!/usr/bin/env bash
# Writes a small synthetic SQuAD v1.1 file on stdout: each paragraph hides one
# "the <role> is <name> ." among filler sentences and asks "who is the
# <role> ?", so a tiny model learns it in seconds.  The same SEED gives the
# same file.
#   tests/slurm/synthetic.sh SEED PARAGRAPHS > data.json
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SEED PARAGRAPHS" >&2; exit 2; }
awk -v seed="$1" -v n="$2" 'BEGIN {
    split("captain doctor teacher pilot farmer singer writer lawyer mayor judge chef nurse", roles, " ")
    split("alice bob carol david emma frank grace henry irene jack karen leo maria nina oscar paul", names, " ")
    split("the river runs past the old house .|a cold wind came in the morning .|the city was quiet that day .|" \
          "they walked along the garden wall .|the train left before noon .|rain fell on the small town .|" \
          "the market opened early .|birds sang near the bridge .", filler, "|")
    srand(seed)
    printf "{\"version\": \"1.1\", \"data\": [{\"title\": \"synthetic\", \"paragraphs\": ["
    for (p = 0; p < n; p++) {
        role = roles[1 + int(rand() * 12)]
        name = names[1 + int(rand() * 16)]
        k = 2 + int(rand() * 4)          # sentences in the paragraph
        at = int(rand() * k)             # which one holds the answer
        ctx = ""; start = 0
        for (s = 0; s < k; s++) {
            if (ctx != "") ctx = ctx " "
            if (s == at) {
                ctx = ctx "the " role " is "
                start = length(ctx)
                ctx = ctx name " ."
            } else {
                ctx = ctx filler[1 + int(rand() * 8)]
            }
        }
        printf "%s{\"context\": \"%s\", \"qas\": [{\"id\": \"q%05d\", \"question\": \"who is the %s ?\", " \
               "\"answers\": [{\"text\": \"%s\", \"answer_start\": %d}]}]}", (p ? ", " : ""), ctx, p, role, name, start
    }
    printf "]}]}\n"
}'
