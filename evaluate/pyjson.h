/* JSON written byte for byte as Python's json.dumps writes it, so that
 * sq-eval's outputs equal those of the official scripts and of HuggingFace's
 * postprocess_qa_predictions: floats by repr() (shortest round trip),
 * strings with ensure_ascii escapes, indent=4 layout. */
#ifndef SQ_EVAL_PYJSON_H
#define SQ_EVAL_PYJSON_H

#include <stddef.h>
#include <stdio.h>

/* repr(float): "0.1", "100.0", "1e-05", "NaN", "-Infinity".  out holds 32. */
void sq_pyfloat(double x, char out[32]);
/* A JSON string literal, quotes included, as ensure_ascii writes it;
 * invalid UTF-8 bytes are written as U+FFFD. */
void sq_pystring(FILE *f, const char *s, size_t len);

#endif
