#include "cmd/device_opts.h"

#include "cuda/cuda_backend.h"
#include "sq/cli.h"

#include <string.h>

void sq_device_options(const char *device, const char *precision, bool padded) {
    if (precision && strcmp(precision, "bf16") && strcmp(precision, "fp32"))
        sq_die_usage("--precision: \"%s\" is not bf16 or fp32", precision);
    if (strcmp(device, "cuda")) {
        /* The CPU backend computes in fp32 and always on every padded
         * position, so --padded changes nothing there. */
        if (precision && !strcmp(precision, "bf16")) sq_die_usage("--precision bf16 needs --device cuda");
        return;
    }
    if (!sq_cuda_configure) return; /* sq_backend_open says the backend is missing */
    sq_cuda_opts o = {!precision || !strcmp(precision, "bf16"), padded};
    sq_cuda_configure(&o);
}
