#include "pyunicode.h"

#include <utf8proc.h>

/* CPython's Py_UNICODE_ISSPACE: bidirectional class WS, B or S, or category
 * Zs.  The set has been stable since Unicode 6.3. */
bool sq_py_isspace(uint32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    switch (c) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f:
    case 0x205f: case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200a;
    }
}

static int category(uint32_t c) {
    return c > 0x10ffff ? UTF8PROC_CATEGORY_CN : utf8proc_category((utf8proc_int32_t)c);
}

/* sre's SRE_UNI_IS_WORD is Py_UNICODE_ISALNUM or '_', and isalnum() is
 * isalpha (L*) or isdecimal/isdigit/isnumeric.  Checked against Python for
 * every code point: that equals "category L* or N*" (tests/evaluate). */
bool sq_py_isword(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    switch (category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* Cased = Lu, Ll, Lt, Other_Lowercase, Other_Uppercase (DerivedCoreProperties).
 * utf8proc has no Other_* properties, so their code points are listed here
 * (PropList.txt of Unicode 14, CPython 3.11's). */
static const uint32_t other_cased[][2] = {
    {0xaa, 0xaa}, {0xba, 0xba}, {0x2b0, 0x2b8}, {0x2c0, 0x2c1}, {0x2e0, 0x2e4},
    {0x345, 0x345}, {0x37a, 0x37a}, {0x1d2c, 0x1d6a}, {0x1d78, 0x1d78},
    {0x1d9b, 0x1dbf}, {0x2071, 0x2071}, {0x207f, 0x207f}, {0x2090, 0x209c},
    {0x2160, 0x217f}, {0x24b6, 0x24e9}, {0x2c7c, 0x2c7d}, {0xa69c, 0xa69d},
    {0xa770, 0xa770}, {0xa7f8, 0xa7f9}, {0xab5c, 0xab5f}, {0x10780, 0x10780},
    {0x10783, 0x10785}, {0x10787, 0x107b0}, {0x107b2, 0x107ba},
    {0x1f130, 0x1f149},
    {0x1f150, 0x1f169}, {0x1f170, 0x1f189},
};

bool sq_py_iscased(uint32_t c) {
    switch (category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        return true;
    default:
        break;
    }
    for (size_t i = 0; i < sizeof other_cased / sizeof other_cased[0]; i++)
        if (c >= other_cased[i][0] && c <= other_cased[i][1]) return true;
    return false;
}

/* Case_Ignorable = Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter, MidNumLet or
 * Single_Quote; the Word_Break members are these (WordBreakProperty.txt). */
bool sq_py_iscaseignorable(uint32_t c) {
    switch (category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    switch (c) {
    case 0x27: case 0x2e: case 0x3a: case 0xb7: case 0x387: case 0x55f: case 0x5f4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xfe13: case 0xfe52:
    case 0xfe55: case 0xff07: case 0xff0e: case 0xff1a:
        return true;
    default:
        return false;
    }
}

/* CPython's handle_capital_sigma (Objects/unicodeobject.c): U+03A3 lowers to
 * final sigma when preceded by a cased letter and not followed by one, case-
 * ignorable characters skipped both ways. */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && sq_py_iscaseignorable(s[j - 1])) j--;
    if (j == 0 || !sq_py_iscased(s[j - 1])) return 0x3c3;
    for (j = i + 1; j < n && sq_py_iscaseignorable(s[j]); j++)
        ;
    return j == n || !sq_py_iscased(s[j]) ? 0x3c2 : 0x3c3;
}

size_t sq_py_lower(const uint32_t *in, size_t n, uint32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            out[k++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
        } else if (c == 0x3a3) {
            out[k++] = lower_sigma(in, n, i);
        } else if (c == 0x130) {
            /* SpecialCasing.txt's one unconditional lowercase expansion. */
            out[k++] = 'i';
            out[k++] = 0x307;
        } else if (c <= 0x10ffff) {
            out[k++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        } else {
            out[k++] = c;
        }
    }
    return k;
}

size_t sq_utf8_decode(const char *s, size_t len, uint32_t *out) {
    size_t n = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (m <= 0) {
            c = 0xfffd;
            m = 1;
        }
        out[n++] = (uint32_t)c;
        i += (size_t)m;
    }
    return n;
}

size_t sq_utf8_encode(uint32_t c, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xc0 | c >> 6);
        o[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xe0 | c >> 12);
        o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | c >> 18);
    o[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}
