/* sq-train's subcommands; each parses its own options and returns the exit
 * status (errors go through sq_die, which exits). */
#ifndef SQ_TRAIN_COMMANDS_H
#define SQ_TRAIN_COMMANDS_H

int sq_cmd_train(int argc, char **argv);
int sq_cmd_predict(int argc, char **argv);
int sq_cmd_replay(int argc, char **argv);
int sq_cmd_bench(int argc, char **argv);

#endif
