/* Backend selection by --device name. */
#ifndef SQ_TRAIN_BACKEND_H
#define SQ_TRAIN_BACKEND_H

#include "model.h"

/* OpenMP threads (0: the default, all cores); OpenBLAS single-threaded. */
void sq_train_set_threads(int n);
/* "cuda" when this build has the CUDA backend and a GPU is present, else "cpu". */
const char *sq_default_device(void);
int sq_backend_open(const char *device, sq_model *m, int max_B, int max_T, sq_backend **out);

#endif
