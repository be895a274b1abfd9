/* sq-train: fine-tunes BERT for SQuAD question answering (default), writes
 * logits for sq-eval (predict), replays reference steps (replay) or times
 * training steps (bench). */
#include "cmd/commands.h"

#include "sq/cli.h"

#include <string.h>

int main(int argc, char **argv) {
    sq_tool_init("sq-train");
    if (argc > 1 && !strcmp(argv[1], "predict")) return sq_cmd_predict(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "bench")) return sq_cmd_bench(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "replay")) return sq_cmd_replay(argc - 1, argv + 1);
    return sq_cmd_train(argc, argv);
}
