/* Progress display (see sq/progress.h).  The bar is redrawn with "\r" and
 * "clear to end of line" and cut to the terminal's width, because a line that
 * wraps can no longer be redrawn in place. */
#include "sq/progress.h"

#include "sq/cli.h"
#include "sq/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum { LINE_MAX_BYTES = 512, BAR_CELLS = 20 };
#define REDRAW_INTERVAL_S 0.1

struct sq_progress {
    FILE *fp;
    sq_progress_mode mode;
    char label[32];
    long total, every;
    long done, first_done;
    double t_first, t_drawn;
    bool started, drawn_last, bar_visible;
    char status[LINE_MAX_BYTES];
};

static sq_progress_mode resolve_mode(FILE *fp, sq_progress_mode mode)
{
    if (mode != SQ_PROGRESS_AUTO)
        return mode;
    const char *term = getenv("TERM");
    bool tty = isatty(fileno(fp)) && !(term && strcmp(term, "dumb") == 0);
    return tty ? SQ_PROGRESS_BAR : SQ_PROGRESS_LINES;
}

sq_progress *sq_progress_open(FILE *fp, sq_progress_mode mode, const char *label, long total,
                              long every)
{
    sq_progress *p = sq_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fp = fp;
    p->mode = resolve_mode(fp, mode);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total > 0 ? total : 0;
    p->every = every > 0 ? every : 1;
    return p;
}

void sq_progress_set_total(sq_progress *p, long total)
{
    if (p)
        p->total = total > 0 ? total : 0;
}

sq_progress_mode sq_progress_get_mode(const sq_progress *p)
{
    return p->mode;
}

char *sq_progress_duration(char *buf, size_t cap, double seconds)
{
    if (!(seconds >= 0) || seconds > 1e9) {
        snprintf(buf, cap, "?");
        return buf;
    }
    long s = lround(seconds);
    if (s < 60)
        snprintf(buf, cap, "%lds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, cap, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
    return buf;
}

static int terminal_width(FILE *fp)
{
    struct winsize ws;
    if (ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 100;
}

/* Appends to line[0..*len) without overflowing it. */
static void append(char *line, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *line, size_t *len, const char *fmt, ...)
{
    if (*len >= LINE_MAX_BYTES - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + *len, LINE_MAX_BYTES - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < LINE_MAX_BYTES - *len ? (size_t)n : LINE_MAX_BYTES - 1 - *len;
}

static void draw(sq_progress *p, double now)
{
    char line[LINE_MAX_BYTES];
    size_t len = 0;
    line[0] = '\0';
    if (p->total > 0) {
        double frac = (double)p->done / (double)p->total;
        if (frac > 1)
            frac = 1;
        append(line, &len, "%s %ld/%ld", p->label, p->done, p->total);
        if (p->mode == SQ_PROGRESS_BAR) {
            int full = (int)(frac * BAR_CELLS);
            char cells[BAR_CELLS + 1];
            for (int i = 0; i < BAR_CELLS; i++)
                cells[i] = i < full ? '#' : '.';
            cells[BAR_CELLS] = '\0';
            append(line, &len, " [%s]", cells);
        }
        append(line, &len, " %3.0f%%", 100 * frac);
    } else {
        append(line, &len, "%s %ld", p->label, p->done);
    }
    /* The ETA before the caller's status, so that a narrow terminal cuts the
     * status rather than the ETA. */
    if (p->total > 0) {
        double rate = now > p->t_first ? (p->done - p->first_done) / (now - p->t_first) : 0;
        char eta[32];
        if (p->done >= p->total)
            append(line, &len, " done in %s",
                   sq_progress_duration(eta, sizeof eta, now - p->t_first));
        else
            append(line, &len, " ETA %s",
                   sq_progress_duration(eta, sizeof eta,
                                        rate > 0 ? (p->total - p->done) / rate : -1));
    }
    if (p->status[0])
        append(line, &len, " | %s", p->status);
    if (p->mode == SQ_PROGRESS_BAR) {
        int width = terminal_width(p->fp) - 1;
        if (width > 0 && len > (size_t)width)
            line[width] = '\0';
        fprintf(p->fp, "\r%s\x1b[K", line);
        p->bar_visible = true;
    } else {
        fprintf(p->fp, "%s\n", line);
    }
    fflush(p->fp);
    p->t_drawn = now;
    p->drawn_last = true;
}

void sq_progress_update(sq_progress *p, long done, const char *status)
{
    if (!p || p->mode == SQ_PROGRESS_OFF)
        return;
    double now = sq_now();
    if (!p->started) {
        /* The rate is measured from the first update, so that start-up
         * (loading, the first slow step) does not skew the ETA for long. */
        p->started = true;
        p->t_first = now;
        p->first_done = done;
        p->t_drawn = -INFINITY;
    }
    p->done = done;
    snprintf(p->status, sizeof p->status, "%s", status ? status : "");
    p->drawn_last = false;
    bool last = p->total > 0 && done >= p->total;
    bool due = p->mode == SQ_PROGRESS_BAR ? now - p->t_drawn >= REDRAW_INTERVAL_S
                                          : done % p->every == 0;
    if (due || last)
        draw(p, now);
}

void sq_progress_clear(sq_progress *p)
{
    if (!p || !p->bar_visible)
        return;
    fputs("\r\x1b[K", p->fp);
    fflush(p->fp);
    p->bar_visible = false;
    p->t_drawn = -INFINITY;
}

void sq_progress_close(sq_progress *p)
{
    if (!p)
        return;
    if (p->mode == SQ_PROGRESS_BAR && p->started) {
        if (!p->drawn_last || !p->bar_visible)
            draw(p, sq_now());
        fputc('\n', p->fp);
        fflush(p->fp);
    } else if (p->mode == SQ_PROGRESS_LINES && p->started && !p->drawn_last) {
        draw(p, sq_now());
    }
    free(p);
}
