/* Python 3 str semantics that SQuAD's official scoring relies on, over
 * Unicode code points: str.lower() (full mapping, Final_Sigma rule),
 * str.isspace() (what str.split() splits on) and re's \w.  Character data
 * comes from utf8proc; where CPython's definitions differ from a plain
 * category test (Cased, Case_Ignorable) the exceptions are listed in
 * pyunicode.c.  Pure functions; no allocation. */
#ifndef SQ_PYUNICODE_H
#define SQ_PYUNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* str.isspace() of one character (Py_UNICODE_ISSPACE). */
bool sq_py_isspace(uint32_t c);
/* re's \w for str patterns: str.isalnum() or '_'. */
bool sq_py_isword(uint32_t c);
/* The Unicode Cased and Case_Ignorable properties (CPython's CASED_MASK and
 * CASE_IGNORABLE_MASK), which decide Final_Sigma. */
bool sq_py_iscased(uint32_t c);
bool sq_py_iscaseignorable(uint32_t c);

/* str.lower() of n code points into out, which must hold 2 * n (U+0130
 * lowers to two); returns the number written.  in and out must not overlap. */
size_t sq_py_lower(const uint32_t *in, size_t n, uint32_t *out);

/* Decodes UTF-8 into code points (out holds len); an invalid byte becomes
 * U+FFFD.  Returns the number of code points. */
size_t sq_utf8_decode(const char *s, size_t len, uint32_t *out);
/* Encodes one code point; returns its byte length (1 to 4). */
size_t sq_utf8_encode(uint32_t c, char *out);

#endif
