#!/usr/bin/env bash
# Writes a synthetic SQuAD v1.1 task to stdout: each context mixes FACTS
# "the <role> is <name> ." sentences (distinct roles and names) with filler
# sentences, and each fact gets the question "who is the <role> ?" whose
# answer is <name>.  With one fact a model must find the name; with more it
# must also read the question to pick the right one.
# Usage: make_synthetic.sh PARAGRAPHS SEED [TITLE [FACTS]]   (awk: no Python at test time)
set -euo pipefail
n=${1:?paragraphs}
seed=${2:?seed}
title=${3:-synthetic}
facts=${4:-1}
awk -v n="$n" -v seed="$seed" -v title="$title" -v facts="$facts" 'BEGIN {
    srand(seed)
    nr = split("captain doctor teacher pilot chef mayor judge farmer singer writer banker driver " \
               "painter nurse lawyer baker sailor coach", role, " ")
    nn = split("john mary peter anna james laura david sarah paul emma george alice henry clara " \
               "thomas helen simon rachel daniel julia oliver lucy victor irene", name, " ")
    nf = split("the weather was mild that day .|many people walked in the park .|" \
               "a small dog slept near the door .|the old bridge crossed the river .|" \
               "the market opened early in the morning .|rain fell over the hills at night .|" \
               "the town had a quiet library .|children played by the lake .|" \
               "a train left the station at noon .|the garden was full of flowers .", filler, "|")
    printf "{\"version\": \"1.1\", \"data\": [{\"title\": \"%s\", \"paragraphs\": [", title
    for (p = 0; p < n; p++) {
        k = facts
        ns = k + 2 + int(rand() * 3)         # sentences in all
        for (i = 1; i <= nr; i++) used_r[i] = 0
        for (i = 1; i <= nn; i++) used_n[i] = 0
        for (i = 0; i < ns; i++) kind[i] = -1
        for (f = 0; f < k; f++) {
            do r = 1 + int(rand() * nr); while (used_r[r]); used_r[r] = 1
            do m = 1 + int(rand() * nn); while (used_n[m]); used_n[m] = 1
            do s = int(rand() * ns); while (kind[s] >= 0)
            kind[s] = f; fr[f] = role[r]; fn[f] = name[m]
        }
        ctx = ""
        for (i = 0; i < ns; i++) {
            sep = i ? " " : ""
            if (kind[i] >= 0) {
                f = kind[i]
                pre = ctx sep "the " fr[f] " is "
                at[f] = length(pre)          # ASCII only: bytes = code points
                ctx = pre fn[f] " ."
            } else {
                ctx = ctx sep filler[1 + int(rand() * nf)]
            }
        }
        printf "%s{\"context\": \"%s\", \"qas\": [", p ? ", " : "", ctx
        for (f = 0; f < k; f++)
            printf "%s{\"id\": \"%s-%d-%d\", \"question\": \"who is the %s ?\", \"answers\": " \
                   "[{\"text\": \"%s\", \"answer_start\": %d}]}", f ? ", " : "", title, p, f, fr[f], fn[f], at[f]
        printf "]}"
    }
    printf "]}]}\n"
}'
