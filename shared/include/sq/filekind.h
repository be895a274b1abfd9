/* What a file or folder is, told from its first bytes (a folder: from the
 * names in it), so that a tool handed the wrong input says what it was given
 * and which tool makes or reads it, instead of failing deep in a parser
 * ("header length 7165896756295633531 is larger than ..."). Every sq tool
 * checks its inputs with sq_file_expect before reading them.
 *
 * Nothing is allocated: descriptions are static strings. */
#ifndef SQ_FILEKIND_H
#define SQ_FILEKIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SQ_FILE_EMPTY,            /* a file of 0 bytes */
    SQ_FILE_BINARY,           /* none of the kinds below */
    SQ_FILE_TEXT,             /* UTF-8 text that is not JSON or a vocabulary */
    SQ_FILE_DIR,              /* a folder of none of the kinds below */
    /* sq's own files */
    SQ_FILE_TOKENS,           /* SQTOKENS: sq-tokenize's output */
    SQ_FILE_FEATURE_SHARD,    /* SQFEATUR, flags 0: one shard of a feature folder */
    SQ_FILE_FEATURE_EXAMPLES, /* SQFEATUR, flags 1: examples.sqf of a feature folder */
    SQ_FILE_SQ_OTHER,         /* "SQ" + 6 capitals: a container kind this sq does not read */
    SQ_FILE_FEATURES_DIR,     /* a folder holding manifest.json: sq-pack's output */
    SQ_FILE_FEATURE_MANIFEST, /* manifest.json of a feature folder */
    SQ_FILE_RUN_DIR,          /* a folder holding run.json, metrics.jsonl or checkpoints/ */
    SQ_FILE_RUN_JSON,         /* run.json ("tool": "sq-train") */
    SQ_FILE_CHECKPOINT_DIR,   /* a folder holding state.json: checkpoints/step-N/ */
    SQ_FILE_CHECKPOINT_STATE, /* state.json of a checkpoint */
    SQ_FILE_METRICS,          /* JSON lines, such as metrics.jsonl */
    SQ_FILE_TRACE,            /* a Chrome trace ("traceEvents"), sq-train --profile */
    /* other tools' files */
    SQ_FILE_SAFETENSORS,      /* 8-byte little-endian header length, then '{' */
    SQ_FILE_SQUAD,            /* JSON whose top-level object has a "data" array (or only "version") */
    SQ_FILE_MODEL_CONFIG,     /* HF config.json */
    SQ_FILE_TOKENIZER_CONFIG, /* HF tokenizer_config.json or tokenizer.json */
    SQ_FILE_HF_MODEL_DIR,     /* a folder holding config.json beside weights or a vocabulary */
    SQ_FILE_PREDICTIONS,      /* a JSON object of strings: answers by question id */
    SQ_FILE_NUMBERS,          /* a JSON object of numbers: no-answer probabilities, null odds */
    SQ_FILE_JSON,             /* other JSON */
    SQ_FILE_VOCAB,            /* a WordPiece vocabulary: text with a [PAD], [UNK] or [CLS] line */
    SQ_FILE_GZIP,
    SQ_FILE_ZSTD,
    SQ_FILE_ZIP,              /* a zip archive (PyTorch's .bin checkpoints are zip files) */
    SQ_FILE_KIND_COUNT
} sq_file_kind;

#define SQ_FILE_BIT(k) ((uint64_t)1 << (k))

typedef struct {
    const char *what;   /* a noun phrase: "a tokens file from sq-tokenize" */
    const char *maker;  /* the sq tool that writes it, or NULL */
    const char *reader; /* the sq tools and options that read it, or NULL */
} sq_file_desc;

/* The kind of path; -1 (the error set, "<path>: <strerror>") when it cannot
 * be opened or read, or is neither a regular file nor a folder (a pipe
 * would lose what was read).  Reads at most 64 KiB. */
int sq_file_kind_of(const char *path, sq_file_kind *kind);
/* The kind of a file's first n bytes (whole: they are the whole file). */
sq_file_kind sq_file_kind_bytes(const void *head, size_t n, bool whole);
const sq_file_desc *sq_file_describe(sq_file_kind kind);

/* Checks an input before a tool reads it: 0 when path is of a kind in the
 * mask want ("-", standard input, and pipes are not looked at), else -1
 * with the error set to
 *   "<path> is <what it is>; <who> wants <wanted>[ (<what to do>)]"
 * e.g. "dev.json is a SQuAD JSON dataset; sq-pack wants a tokens file from
 * sq-tokenize (run sq-tokenize first)".  who is the tool or option
 * ("sq-pack", "--dataset"), wanted a noun phrase.  A path that cannot be
 * read is an error too ("<path>: No such file or directory"). */
int sq_file_expect(const char *path, uint64_t want, const char *who, const char *wanted);

#endif
