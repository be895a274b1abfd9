#include "sq/cli.h"
#include "sq_version.h"

#include <stdio.h>

const char *sq_version(void) { return SQ_VERSION; }
const char *sq_git_commit(void) { return SQ_GIT_COMMIT; }

void sq_print_version(void) {
    printf("%s %s (commit %s)\n", sq_tool_name(), SQ_VERSION, SQ_GIT_COMMIT);
}
