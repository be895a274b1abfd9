/* TensorBoard event files (see sq/tfevents.h).  The protobuf is encoded by
 * hand: an Event holding one scalar needs four field kinds, which is less code
 * than a protobuf-c dependency and its generated files.  Field numbers are
 * those of tensorflow/core/util/event.proto and framework/summary.proto:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; } */
#include "sq/tfevents.h"

#include "crc32c.h"
#include "sq/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

struct sq_tfevents {
    FILE *fp;
    char *path;
    bool failed;
};

/* A bounded output buffer: writes past cap set overflow instead of writing. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool overflow;
} pbuf;

static void put_byte(pbuf *b, uint8_t v)
{
    if (b->len >= b->cap) {
        b->overflow = true;
        return;
    }
    b->p[b->len++] = v;
}

static void put_varint(pbuf *b, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(b, (uint8_t)v);
}

static void put_key(pbuf *b, unsigned field, unsigned wire_type)
{
    put_varint(b, (uint64_t)field << 3 | wire_type);
}

static void put_le(pbuf *b, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++)
        put_byte(b, (uint8_t)(v >> (8 * i)));
}

static void put_double(pbuf *b, unsigned field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_key(b, field, WT_FIXED64);
    put_le(b, bits, 8);
}

static void put_float(pbuf *b, unsigned field, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_key(b, field, WT_FIXED32);
    put_le(b, bits, 4);
}

static void put_bytes(pbuf *b, unsigned field, const void *data, size_t len)
{
    put_key(b, field, WT_LEN);
    put_varint(b, len);
    for (size_t i = 0; i < len; i++)
        put_byte(b, ((const uint8_t *)data)[i]);
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t sq_tfevents_encode_scalar(uint8_t *buf, size_t cap, double wall_time, long step,
                                 const char *tag, float value)
{
    size_t tag_len = strlen(tag);
    /* Sizes of the nested messages, inside out: Value, then Summary. */
    size_t value_len = 1 + varint_size(tag_len) + tag_len + 1 + 4;
    size_t summary_len = 1 + varint_size(value_len) + value_len;
    pbuf b = {buf, 0, cap, false};
    put_double(&b, 1, wall_time);
    put_key(&b, 2, WT_VARINT);
    /* int64 is encoded as its two's complement in a varint. */
    put_varint(&b, (uint64_t)(int64_t)step);
    put_key(&b, 5, WT_LEN);
    put_varint(&b, summary_len);
    put_key(&b, 1, WT_LEN);
    put_varint(&b, value_len);
    put_bytes(&b, 1, tag, tag_len);
    put_float(&b, 2, value);
    return b.overflow ? 0 : b.len;
}

size_t sq_tfevents_encode_version(uint8_t *buf, size_t cap, double wall_time)
{
    /* The version string TensorBoard checks for (tensorboard's event_file_loader). */
    static const char version[] = "brain.Event:2";
    pbuf b = {buf, 0, cap, false};
    put_double(&b, 1, wall_time);
    put_bytes(&b, 3, version, sizeof version - 1);
    return b.overflow ? 0 : b.len;
}

int sq_tfrecord_write(FILE *fp, const void *data, size_t len)
{
    uint8_t head[12], foot[4];
    uint64_t n = len;
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(n >> (8 * i));
    uint32_t hcrc = sq_crc32c_mask(sq_crc32c(0, head, 8));
    uint32_t dcrc = sq_crc32c_mask(sq_crc32c(0, data, len));
    for (int i = 0; i < 4; i++) {
        head[8 + i] = (uint8_t)(hcrc >> (8 * i));
        foot[i] = (uint8_t)(dcrc >> (8 * i));
    }
    if (fwrite(head, 1, sizeof head, fp) != sizeof head || fwrite(data, 1, len, fp) != len ||
        fwrite(foot, 1, sizeof foot, fp) != sizeof foot)
        return sq_err_sys("write");
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Opens a name nobody else has: O_EXCL, with ".1", ".2"... on collision
 * (two writers started in the same second on the same host). */
static FILE *create_unique(const char *base, char **path_out)
{
    for (int n = 0; n < 100; n++) {
        char *path = sq_malloc(strlen(base) + 16);
        if (!path)
            return NULL;
        if (n == 0)
            strcpy(path, base);
        else
            sprintf(path, "%s.%d", base, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            FILE *fp = fdopen(fd, "wb");
            if (!fp) {
                sq_err_sys("%s", path);
                close(fd);
                unlink(path);
                free(path);
                return NULL;
            }
            *path_out = path;
            return fp;
        }
        if (errno != EEXIST) {
            sq_err_sys("%s", path);
            free(path);
            return NULL;
        }
        free(path);
    }
    sq_err("%s: too many event files with this name", base);
    return NULL;
}

sq_tfevents *sq_tfevents_open(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        sq_err_sys("%s", dir);
        return NULL;
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/')
            *c = '_';
    double now = wall_now();
    size_t cap = strlen(dir) + strlen(host) + 64;
    char *base = sq_malloc(cap);
    if (!base)
        return NULL;
    snprintf(base, cap, "%s/events.out.tfevents.%lld.%s", dir, (long long)now, host);
    sq_tfevents *w = sq_calloc(1, sizeof *w);
    if (!w) {
        free(base);
        return NULL;
    }
    w->fp = create_unique(base, &w->path);
    free(base);
    if (!w->fp) {
        free(w);
        return NULL;
    }
    uint8_t buf[64];
    size_t len = sq_tfevents_encode_version(buf, sizeof buf, now);
    if (sq_tfrecord_write(w->fp, buf, len) != 0 || sq_tfevents_flush(w) != 0) {
        sq_err_ctx("%s", w->path);
        fclose(w->fp);
        unlink(w->path);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

const char *sq_tfevents_path(const sq_tfevents *w)
{
    return w->path;
}

int sq_tfevents_scalar(sq_tfevents *w, const char *tag, long step, double value)
{
    if (strlen(tag) > SQ_TFEVENTS_MAX_TAG)
        return sq_err("%s: tag longer than %d bytes", w->path, SQ_TFEVENTS_MAX_TAG);
    uint8_t buf[SQ_TFEVENTS_MAX_TAG + 64];
    size_t len = sq_tfevents_encode_scalar(buf, sizeof buf, wall_now(), step, tag, (float)value);
    if (sq_tfrecord_write(w->fp, buf, len) != 0) {
        w->failed = true;
        return sq_err_ctx("%s", w->path);
    }
    return 0;
}

int sq_tfevents_flush(sq_tfevents *w)
{
    if (fflush(w->fp) != 0) {
        w->failed = true;
        return sq_err_sys("%s", w->path);
    }
    return 0;
}

int sq_tfevents_close(sq_tfevents *w)
{
    if (!w)
        return 0;
    int rc = w->failed ? sq_err("%s: a write failed earlier", w->path) : 0;
    if (rc == 0 && fflush(w->fp) != 0)
        rc = sq_err_sys("%s", w->path);
    if (fclose(w->fp) != 0 && rc == 0)
        rc = sq_err_sys("%s", w->path);
    free(w->path);
    free(w);
    return rc;
}
