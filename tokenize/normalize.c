#include "normalize.h"
#include "fixups.h"

#include <utf8proc.h>

/* Rust's char::is_whitespace (the White_Space property), which BertNormalizer
 * uses with \t \n \r added. */
static bool is_whitespace(uint32_t c) {
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* BertNormalizer's is_control: unicode_categories' is_other, which in
 * practice is Cc, Cf, Co and Cs (HF keeps unassigned code points: measured
 * over all of them), less \t \n \r (they become spaces). */
static bool is_control(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CS:
        return true;
    default:
        return false;
    }
}

/* BertNormalizer's is_chinese_char, ranges as in HF (including its
 * 0x2B920 start of the extension E/F range). */
static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BertPreTokenizer: ASCII punctuation or Unicode P*. */
static bool is_punct(uint32_t c) {
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

int classify_cp_base(uint32_t c) { return is_whitespace(c) ? NC_SPACE : is_punct(c) ? NC_PUNCT : NC_WORD; }

int classify_cp(uint32_t c) {
    if (c >= FIXUP_MIN) {
        const class_fixup *f = find_class_fixup(c);
        if (f) return f->cls;
    }
    return classify_cp_base(c);
}

void normalize_cp(uint32_t c, bool cased, norm_result *r) {
    const norm_fixup *f = c >= FIXUP_MIN ? find_norm_fixup(c, cased) : NULL;
    if (!f) {
        normalize_cp_base(c, cased, r);
        for (int i = 0; i < r->n; i++)
            if (r->cp[i] >= FIXUP_MIN) r->cls[i] = (uint8_t)classify_cp(r->cp[i]);
        return;
    }
    r->n = f->n;
    r->isolated = is_chinese(c);
    for (int i = 0; i < f->n; i++) {
        r->cp[i] = f->out[i];
        r->cls[i] = (uint8_t)classify_cp(f->out[i]);
    }
}

void normalize_cp_base(uint32_t c, bool cased, norm_result *r) {
    r->n = 0;
    r->isolated = false;
    if (c == 0 || c == 0xFFFD || is_control(c)) return;
    if (is_whitespace(c)) {
        r->n = 1;
        r->cp[0] = ' ';
        r->cls[0] = NC_SPACE;
        return;
    }
    r->isolated = is_chinese(c);
    uint32_t dec[NORM_MAX];
    int nd = 1;
    dec[0] = c;
    if (!cased) {
        utf8proc_int32_t buf[NORM_MAX];
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)c, buf, NORM_MAX, UTF8PROC_DECOMPOSE, &last);
        nd = 0;
        for (utf8proc_ssize_t i = 0; i < k && i < NORM_MAX; i++)
            if (utf8proc_category(buf[i]) != UTF8PROC_CATEGORY_MN) dec[nd++] = (uint32_t)buf[i];
    }
    int n = 0;
    for (int i = 0; i < nd; i++) {
        /* Rust's char::to_lowercase is multi-char only for U+0130 (İ → i
         * U+0307), and NFD has already split İ into I and a dropped U+0307:
         * utf8proc's simple mapping is exact here. */
        r->cp[n++] = cased ? dec[i] : (uint32_t)utf8proc_tolower((utf8proc_int32_t)dec[i]);
    }
    for (int i = 0; i < n; i++) r->cls[i] = (uint8_t)classify_cp_base(r->cp[i]);
    r->n = (uint8_t)n;
}
