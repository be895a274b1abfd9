/* Progress of a long-running tool on a stream (stderr): on a terminal one
 * line redrawn in place at most 10 times a second; elsewhere (CI, Slurm logs)
 * a plain line every `every` units; or nothing.  The caller formats its own
 * status text; the display adds count/total, percentage, a bar on a terminal
 * and the ETA from the rate since the first update.  The stream is borrowed. */
#ifndef SQ_PROGRESS_H
#define SQ_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    SQ_PROGRESS_AUTO,  /* BAR on a terminal (TERM other than "dumb"), LINES otherwise */
    SQ_PROGRESS_BAR,
    SQ_PROGRESS_LINES,
    SQ_PROGRESS_OFF,
} sq_progress_mode;

typedef struct sq_progress sq_progress;

/* label names the unit ("step"); total is 0 when unknown; every >= 1.
 * NULL on allocation failure. */
sq_progress *sq_progress_open(FILE *fp, sq_progress_mode mode, const char *label, long total,
                              long every);
/* Changes the total (0: unknown), for callers that learn it late. */
void sq_progress_set_total(sq_progress *p, long total);
/* The resolved mode (AUTO never). */
sq_progress_mode sq_progress_get_mode(const sq_progress *p);
/* done units are finished; status (NULL for none) follows the count.  Draws
 * when due: BAR at most every 0.1 s, LINES when done is a multiple of every;
 * both always at done == total. */
void sq_progress_update(sq_progress *p, long done, const char *status);
/* Erases a drawn bar, so that the caller can print a message on the stream;
 * the next update draws it again. */
void sq_progress_clear(sq_progress *p);
/* Draws the last state if it was not drawn, ends the bar's line, frees p
 * (NULL is allowed). */
void sq_progress_close(sq_progress *p);

/* "45s", "3m05s", "2h03m", "4d02h" into buf; returns buf. */
char *sq_progress_duration(char *buf, size_t cap, double seconds);

#endif
