/* TensorBoard event files written natively: each scalar is an Event protocol
 * buffer (encoded by hand: wall_time, step, summary{value{tag, simple_value}})
 * framed as a TFRecord (length, masked CRC-32C of the length, data, masked
 * CRC-32C of the data).  The writer owns its file; records reach the disk on
 * sq_tfevents_flush and close, so TensorBoard can read a run as it goes. */
#ifndef SQ_TFEVENTS_H
#define SQ_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sq_tfevents sq_tfevents;

/* Creates dir if it is missing and a new file in it,
 * "events.out.tfevents.<unix seconds>.<hostname>" (".<n>" added if that name
 * is taken), whose first record is the file_version event TensorBoard
 * expects.  NULL on error. */
sq_tfevents *sq_tfevents_open(const char *dir);
const char *sq_tfevents_path(const sq_tfevents *w);
/* One scalar at step, stamped with the current wall time.  Tags are at most
 * SQ_TFEVENTS_MAX_TAG bytes. */
int sq_tfevents_scalar(sq_tfevents *w, const char *tag, long step, double value);
int sq_tfevents_flush(sq_tfevents *w);
/* Flushes, closes and frees w (NULL is allowed); -1 if anything failed. */
int sq_tfevents_close(sq_tfevents *w);

enum { SQ_TFEVENTS_MAX_TAG = 256 };

/* The building blocks, for tests.  Encoders write the Event into buf and
 * return its length, or 0 when it would not fit in cap bytes. */
size_t sq_tfevents_encode_scalar(uint8_t *buf, size_t cap, double wall_time, long step,
                                 const char *tag, float value);
size_t sq_tfevents_encode_version(uint8_t *buf, size_t cap, double wall_time);
/* Writes one TFRecord holding data[0..len). */
int sq_tfrecord_write(FILE *fp, const void *data, size_t len);

#endif
