/* An HF model folder as the tokenizer's input: its vocab.txt and the
 * lower-casing its tokenizer_config.json sets, so that `--vocab DIR` sets
 * up sq-tokenize as AutoTokenizer.from_pretrained(DIR) sets up BERT's
 * tokenizer.  Settings sq's BertNormalizer cannot reproduce are refused. */
#ifndef SQ_TOKENIZE_HF_FOLDER_H
#define SQ_TOKENIZE_HF_FOLDER_H

#include <stdbool.h>

typedef struct {
    char *vocab_path; /* DIR/vocab.txt, malloc'd */
    bool lower;       /* lowercase and strip accents (uncased) */
    bool stated;      /* tokenizer_config.json says do_lower_case (else BertTokenizer's default, true) */
} hf_folder;

int hf_folder_read(const char *dir, hf_folder *out);
void hf_folder_free(hf_folder *f);

#endif
