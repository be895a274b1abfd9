/* sq-inspect's printers.  Each prints one kind of sq file as JSON lines on
 * out and returns 0, or returns -1 with the library error set to
 * "<path>: <why>" (main prints it).  A printer validates its input before
 * printing anything, so a damaged file leaves out empty.  With values, the
 * printers add the numbers themselves (tensor values, token ids...). */
#ifndef SQ_INSPECT_H
#define SQ_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

/* A safetensors file: a "metadata" line when there is __metadata__, then a
 * "tensor" line per tensor in file order. */
int inspect_safetensors(const char *path, FILE *out, bool values);
/* A tokens file (magic SQ_KIND_TOKENS). */
int inspect_tokens(const char *path, FILE *out, bool values);
/* A feature directory (one holding manifest.json) or one feature shard
 * (magic SQ_KIND_FEATURES): a summary, the features with values. */
int inspect_features(const char *path, FILE *out, bool values);
/* A feature directory's example table (examples.sqf): its count, the
 * question ids with values. */
int inspect_examples(const char *path, FILE *out, bool values);
/* A run folder of sq-train (run.json, metrics.jsonl, checkpoints/): its
 * settings, progress, checkpoints and files; with values every metrics line. */
int inspect_run(const char *path, FILE *out, bool values);
/* A checkpoint folder (checkpoints/step-N/): its state, model config and
 * files; with values the model's tensors. */
int inspect_checkpoint(const char *path, FILE *out, bool values);

/* JSON output shared by the printers: a string with its quotes (s is
 * UTF-8), and a float as the shortest decimal that reads back as the same
 * float ("NaN", "Infinity", "-Infinity" as strings: JSON has no such numbers;
 * negative zero as -0.0, since most readers turn -0 into the integer 0). */
void emit_string(FILE *out, const char *s);
/* s itself when it is a JSON object or array (whitespace dropped, so the
 * line stays one line), else s as a string: a model's config stored in
 * safetensors metadata prints as the JSON it is. */
void emit_json_or_string(FILE *out, const char *s);
/* Valid JSON text s on one line: whitespace outside strings dropped, the
 * rest (numbers included) as written. */
void emit_json_text(FILE *out, const char *s);
/* The shortest decimal that reads back as d (non-finite values as strings). */
void emit_double(FILE *out, double d);
void emit_float(FILE *out, float f);

#endif
