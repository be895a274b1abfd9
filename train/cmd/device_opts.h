/* --precision bf16|fp32 and --padded, shared by the subcommands that open a
 * backend: checked against --device, then handed to the CUDA backend (when
 * this build has one) before sq_backend_open. */
#ifndef SQ_TRAIN_DEVICE_OPTS_H
#define SQ_TRAIN_DEVICE_OPTS_H

#include <stdbool.h>

/* precision may be NULL (bf16 on cuda, fp32 on cpu); a bad combination is a
 * usage error (exit 2). */
void sq_device_options(const char *device, const char *precision, bool padded);

#endif
