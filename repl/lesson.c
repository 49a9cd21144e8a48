/* repl/lesson.c: the lesson runner: shows a lesson (lesson_file.c reads it) screen by screen in a
 * session (predictions, pauses, window actions, resumable progress), lists the lessons, and
 * checks them unattended. */
#include "lesson_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== Drawing a screen ==== */

/* Columns a UTF-8 string takes (every code point one column; the lessons use no wide ones). */
static int text_cols(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
    return w;
}

typedef struct {
    FILE *out;          /* NULL: count lines only */
    int width;          /* columns to wrap at */
    int lines;          /* lines on the current screen */
    int last;           /* class of the last block: 0 none, 1 text, 2 code, 3 other */
} view;

static void view_emit(view *v, const char *s, size_t n)
{
    int w = text_cols(s, n);
    v->lines += w <= v->width ? 1 : (w + v->width - 1) / v->width;
    if (v->out) {
        fwrite(s, 1, n, v->out);
        fputc('\n', v->out);
    }
}

static void view_line(view *v, const char *s)
{
    view_emit(v, s, strlen(s));
}

/* A blank line between blocks: between paragraphs, and where text meets code. */
static void view_gap(view *v, int cls)
{
    if (v->last && (cls != v->last || cls == 1))
        view_line(v, "");
    v->last = cls;
}

/* Word-wrap `s` (n bytes) to the view width; continuation lines start with `indent`. */
static void view_wrap(view *v, const char *prefix, const char *s, size_t n, const char *indent)
{
    char line[1024];
    size_t ll = 0;
    int cols = 0;
    if (prefix) {
        ll = (size_t)snprintf(line, sizeof line, "%s", prefix);
        cols = text_cols(line, ll);
    }
    size_t i = 0;
    bool empty = true;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\n' && s[j] != '\t')
            j++;
        int ww = text_cols(s + i, j - i);
        if (!empty && cols + 1 + ww > v->width) {
            view_emit(v, line, ll);
            ll = (size_t)snprintf(line, sizeof line, "%s", indent);
            cols = text_cols(line, ll);
            empty = true;
        }
        if (!empty && ll + 1 < sizeof line) {
            line[ll++] = ' ';
            cols++;
        }
        size_t take = j - i;
        if (ll + take >= sizeof line)
            take = sizeof line - ll - 1;
        memcpy(line + ll, s + i, take);
        ll += take;
        cols += ww;
        empty = false;
        i = j;
    }
    if (!empty || prefix)
        view_emit(v, line, ll);
}

/* A narration paragraph: plain lines are joined and re-wrapped; a line that starts with a space
 * is kept as written (formulas, tables); a line that starts with "- " begins a list item, which
 * goes on over the following lines that start with a space. */
static void view_paragraph(view *v, const char *text)
{
    const char *p = text;
    const char *seg = NULL;     /* start of the running wrapped segment */
    size_t seglen = 0;
    bool item = false;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool indented = p[0] == ' ' || p[0] == '\t';
        bool verbatim = indented && !item;       /* indented lines continue a list item */
        bool bullet = n >= 2 && p[0] == '-' && p[1] == ' ';
        if (verbatim || bullet || !seg) {
            if (seg)
                view_wrap(v, NULL, seg, seglen, item ? "  " : "");
            seg = NULL;
            item = false;
            if (verbatim) {
                view_emit(v, p, n);
            } else {
                seg = p;
                seglen = n;
                item = bullet;
            }
        } else {
            seglen = (size_t)(p + n - seg);
        }
        p += n;
        if (*p == '\n')
            p++;
    }
    if (seg)
        view_wrap(v, NULL, seg, seglen, item ? "  " : "");
}

/* Code as if typed at the prompt: ">>> " then "... " for continuation lines. */
static void view_code(view *v, const char *code, const char *first, const char *more)
{
    const char *p = code;
    bool start = true;
    for (;;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        int k = snprintf(line, sizeof line, "%s%.*s", start ? first : more, (int)n, p);
        view_emit(v, line, k < (int)sizeof line ? (size_t)k : sizeof line - 1);
        start = false;
        if (!e)
            break;
        p = e + 1;
    }
}

/* Count the lines of captured output (check mode). */
static void view_count_output(view *v, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\n')
            j++;
        int w = text_cols(s + i, j - i);
        v->lines += w <= v->width ? 1 : (w + v->width - 1) / v->width;
        i = j + 1;
    }
}

static void view_header(view *v, const lesson *L, int k)
{
    char line[512];
    int n = snprintf(line, sizeof line, "── Lesson %d · %s · %d/%d ", L->number,
                     L->title ? L->title : L->name, k + 1, L->nscreens);
    if (n < 0 || n >= (int)sizeof line)
        n = (int)strlen(line);
    int cols = text_cols(line, (size_t)n);
    while (cols < v->width && n + 4 < (int)sizeof line) {
        memcpy(line + n, "─", 3);
        n += 3;
        cols++;
    }
    line[n] = '\0';
    view_line(v, line);
    v->last = 0;
}

/* ==== Running a lesson ==== */

typedef enum { ACT_NEXT, ACT_BACK, ACT_LEAVE, ACT_QUIT } action;

typedef struct {
    lesson *L;
    bs_session *s;          /* NULL: lint only (nothing runs) */
    FILE *in;               /* the learner's replies; NULL in check mode */
    FILE *out;              /* the learner's terminal; NULL in check mode */
    view v;
    bool check;             /* unattended */
    bool window;            /* a window may be open: run window actions */
    int precision;
    /* check mode */
    FILE *cap;              /* the session's output, captured */
    char *capbuf;
    size_t capsize, capseen;
    FILE *report;           /* failure lines */
    char *repbuf;
    size_t repsize;
    int failures, nchecks, npredicts, worst, worst_screen;
} runner;

static void fail(runner *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(runner *r, int line, const char *fmt, ...)
{
    r->failures++;
    if (!r->report)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->report, "  %s:%d: ", r->L->path, line);
    vfprintf(r->report, fmt, ap);
    fputc('\n', r->report);
    va_end(ap);
}

/* Check mode: count what the session printed since the last call. */
static void absorb_output(runner *r)
{
    if (!r->cap)
        return;
    fflush(r->cap);
    if (r->capsize > r->capseen)
        view_count_output(&r->v, r->capbuf + r->capseen, r->capsize - r->capseen);
    r->capseen = r->capsize;
}

/* Silence the terminal while earlier screens are replayed: the session writes to the same
 * terminal as `out`, so its descriptor (and stdout's) point at /dev/null meanwhile. */
typedef struct {
    int fd[2], saved[2], n;
} silence;

static void silence_begin(runner *r, silence *q)
{
    q->n = 0;
    fflush(NULL);
    if (r->check || !r->out)
        return;
    int fds[2] = {fileno(r->out), STDOUT_FILENO};
    int nul = open("/dev/null", O_WRONLY);
    if (nul < 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0 || (i == 1 && fds[1] == fds[0]))
            continue;
        int sv = dup(fds[i]);
        if (sv < 0)
            continue;
        dup2(nul, fds[i]);
        q->fd[q->n] = fds[i];
        q->saved[q->n++] = sv;
    }
    close(nul);
}

static void silence_end(silence *q)
{
    fflush(NULL);
    for (int i = q->n - 1; i >= 0; i--) {
        dup2(q->saved[i], q->fd[i]);
        close(q->saved[i]);
    }
    q->n = 0;
}

static int run_code_e(runner *r, const char *code, int line, bool report, bs_error *ep)
{
    bs_error e;
    memset(&e, 0, sizeof e);
    if (ep)
        *ep = e;
    if (!r->s)
        return 0;
    if (r->out)
        fflush(r->out);
    int rc = bs_session_eval(r->s, code, line, &e);
    if (ep)
        *ep = e;
    fflush(NULL);
    if (rc < 0 && report) {
        if (r->check)
            fail(r, e.line >= line ? e.line : line, "code failed: %s", e.msg);
        else if (r->out)
            fprintf(r->out, "lesson: line %d: this lesson's code failed: %s\n", line, e.msg);
    }
    return rc;
}

static int run_code(runner *r, const char *code, int line, bool report)
{
    return run_code_e(r, code, line, report, NULL);
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

/* A line the lesson means to fail: show the error as the REPL would, and check it is the one. */
static int run_failing(runner *r, const item *it)
{
    bs_error e;
    int rc = run_code_e(r, it->text, it->line, false, &e);
    absorb_output(r);
    if (!r->s)
        return 0;
    if (rc >= 0) {
        if (r->check)
            fail(r, it->line, "this line should fail (with \"%s\") but it ran", it->fails);
        return rc;
    }
    view_wrap(&r->v, "error: ", e.msg, strlen(e.msg), "  ");
    if (r->check && !contains_nocase(e.msg, it->fails))
        fail(r, it->line, "the error \"%s\" does not mention \"%s\"", e.msg, it->fails);
    return 0;
}

static void fmt_num(const runner *r, double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.*g", r->precision, v);
}

static bool close_enough(const item *it, double got, double want, double dflt_abs, double dflt_rel)
{
    if (isnan(got) || isnan(want))
        return false;
    if (isinf(got) || isinf(want))
        return got == want;
    double d = fabs(got - want);
    if (it->has_tol)
        return it->tol_rel ? d <= it->tol * fabs(want) : d <= it->tol;
    return d <= fmax(dflt_abs, dflt_rel * fabs(want));
}

static void do_check(runner *r, const item *it)
{
    r->nchecks++;
    if (!r->s)
        return;
    double got;
    bs_error e;
    memset(&e, 0, sizeof e);
    if (bs_session_number(r->s, it->text, &got, &e) != 0) {
        if (r->check)
            fail(r, it->line, "check %s: %s", it->text, e.msg);
        else if (r->out)
            fprintf(r->out, "lesson: line %d: check %s failed: %s\n", it->line, it->text, e.msg);
        return;
    }
    double tol = bs__lesson_stated_tol(it->numtext, it->num);
    if (close_enough(it, got, it->num, tol, 0)) {
        return;
    }
    char g[64];
    fmt_num(r, got, g, sizeof g);
    if (r->check)
        fail(r, it->line, "check %s == %s: the engine computes %s", it->text, it->numtext, g);
    else if (r->out)
        fprintf(r->out, "lesson: line %d: the text says %s = %s but the engine computes %s\n",
                it->line, it->text, it->numtext, g);
}

/* One line of the learner's reply, without its newline; false at end of input. */
static bool read_reply(runner *r, char *buf, size_t len)
{
    fflush(r->out);
    if (!fgets(buf, (int)len, r->in))
        return false;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *t = bs__lesson_trim(buf);
    memmove(buf, t, strlen(t) + 1);
    return true;
}

static bool is_leave(const char *s)
{
    return !strcmp(s, "q") || !strcmp(s, "quit") || !strcmp(s, "leave") || !strcmp(s, "exit");
}

/* At a pause: Enter goes on, < (or back) goes back, q leaves; anything else runs as code in the
 * session. */
static action do_pause(runner *r, bool last_screen)
{
    const char *prompt =
        last_screen ? NULL : "[Enter] next · < back · q leave · or type code to try it › ";
    if (!prompt)
        return ACT_NEXT;
    r->v.lines++;                      /* the prompt line */
    if (r->check || !r->in)
        return ACT_NEXT;
    char buf[4096];
    for (;;) {
        fputs(prompt, r->out);
        if (!read_reply(r, buf, sizeof buf)) {
            fputc('\n', r->out);
            return ACT_LEAVE;
        }
        if (!buf[0])
            return ACT_NEXT;
        if (is_leave(buf))
            return ACT_LEAVE;
        if (!strcmp(buf, "back") || !strcmp(buf, "<"))
            return ACT_BACK;
        if (!strcmp(buf, ":quit") || !strcmp(buf, ":q"))
            return ACT_QUIT;
        bs_error e;
        int rc = run_code_e(r, buf, 1, false, &e);
        if (rc == 1)
            return ACT_QUIT;
        if (rc < 0)   /* eval returns the error; showing it is the caller's part */
            fprintf(r->out, "error: %s\n", e.msg);
    }
}

/* The learner's number: "-0.37", "1/4", "−0.5" (a Unicode minus), "2e-3". */
static bool parse_guess(const char *s, double *v)
{
    char buf[256];
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof buf; p++) {
        const unsigned char *u = (const unsigned char *)p;
        if (u[0] == 0xE2 && u[1] == 0x88 && u[2] == 0x92) {  /* U+2212, a Unicode minus */
            buf[n++] = '-';
            p += 2;
        } else if (*p != ' ') {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    if (!n)
        return false;
    char *end;
    double a = strtod(buf, &end);
    if (end == buf)
        return false;
    if (*end == '/') {
        char *e2;
        double b = strtod(end + 1, &e2);
        if (e2 == end + 1 || *e2 || b == 0)
            return false;
        *v = a / b;
        return true;
    }
    if (*end)
        return false;
    *v = a;
    return true;
}

static const double PREDICT_ABS = 0.01, PREDICT_REL = 0.01;

/* A prediction: ask until right, shown, or left. The answer screen (verdict + explanation)
 * starts a new screen count. */
static action do_predict(runner *r, const item *pit)
{
    item fixed = *pit;               /* a malformed prediction (reported by lint) still runs */
    const item *it = &fixed;
    if (!fixed.hint)
        fixed.hint = "";
    if (!fixed.explain)
        fixed.explain = "";
    r->npredicts++;
    view_gap(&r->v, 3);
    view_wrap(&r->v, "Predict: ", it->text, strlen(it->text), "  ");
    const char *prompt = "your answer (a number · ? hint · s show · q leave) › ";
    r->v.lines++;                      /* the prompt line */

    double want = NAN;
    bool have = false;
    char ws[64] = "?";
    if (r->s && it->answer) {
        bs_error e;
        memset(&e, 0, sizeof e);
        if (bs_session_number(r->s, it->answer, &want, &e) == 0 && isfinite(want)) {
            have = true;
            fmt_num(r, want, ws, sizeof ws);
        } else if (r->check) {
            fail(r, it->line, "prediction's answer %s: %s", it->answer,
                 e.msg[0] ? e.msg : "not a finite number");
        } else if (r->out) {
            fprintf(r->out, "lesson: line %d: cannot compute the answer %s: %s\n", it->line,
                    it->answer, e.msg);
        }
    }

    /* A wrong answer shows the hint under the question: that must fit the page too. */
    view hv = {.out = NULL, .width = r->v.width};
    view_wrap(&hv, "Not quite. Hint: ", it->hint, strlen(it->hint), "  ");
    int question_screen = r->v.lines + hv.lines + 1;

    bool right = false;
    if (r->check || !r->in) {
        /* predictions answered from the engine */
        right = have && close_enough(it, want, want, PREDICT_ABS, PREDICT_REL);
        if (r->s && have && !right)
            fail(r, it->line, "the engine's own answer %s is not accepted", ws);
    } else {
        char buf[1024];
        int wrong = 0;
        for (;;) {
            fputs(prompt, r->out);
            if (!read_reply(r, buf, sizeof buf)) {
                fputc('\n', r->out);
                return ACT_LEAVE;
            }
            if (is_leave(buf))
                return ACT_LEAVE;
            if (!strcmp(buf, ":quit") || !strcmp(buf, ":q"))
                return ACT_QUIT;
            if (!strcmp(buf, "?") || !strcmp(buf, "hint")) {
                view_wrap(&r->v, "Hint: ", it->hint, strlen(it->hint), "  ");
                continue;
            }
            if (!strcmp(buf, "s") || !strcmp(buf, "show"))
                break;
            double g;
            if (!buf[0])
                continue;
            if (!parse_guess(buf, &g)) {
                fputs("Type a number, like -0.25 or 1/4.\n", r->out);
                continue;
            }
            if (!have)
                break;
            if (close_enough(it, g, want, PREDICT_ABS, PREDICT_REL)) {
                right = true;
                break;
            }
            if (++wrong >= PREDICT_TRIES)
                break;
            view_wrap(&r->v, "Not quite. Hint: ", it->hint, strlen(it->hint), "  ");
        }
    }
    if (question_screen > r->worst) {
        r->worst = question_screen;
        r->worst_screen = it->line;
    }
    if (r->check && question_screen > PAGE_LINES)
        fail(r, it->line,
             "the screen ending in this prediction, with its hint, takes %d lines; a page is %d",
             question_screen, PAGE_LINES);

    /* the answer: a new screen's worth */
    r->v.lines = 0;
    char verdict[256];
    snprintf(verdict, sizeof verdict, "%s the engine computes %s.",
             right ? "Right:" : "The answer:", ws);
    view_line(&r->v, verdict);
    view_wrap(&r->v, NULL, it->explain, strlen(it->explain), "");
    r->v.last = 3;
    return ACT_NEXT;
}

static void do_graph(runner *r, const item *it)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, ":graph%s%s", it->text[0] ? " " : "", it->text);
    if (!(r->window && r->s))
        view_gap(&r->v, 3);
    if (r->window && r->s) {
        run_code(r, cmd, it->line, true);
        r->v.lines++;                  /* what :graph prints, one line */
    } else {
        char note[600];
        snprintf(note, sizeof note, "(the window would show this graph now; `%s --ascii` draws it here)",
                 cmd);
        view_line(&r->v, note);
    }
}

/* Show screen k. `cont`: it follows a prediction's answer on the same page (no header). */
static action show_screen(runner *r, int k, bool cont)
{
    lesson *L = r->L;
    int from = L->screen[k], to = k + 1 < L->nscreens ? L->screen[k + 1] : L->n;
    if (!cont) {
        r->v.lines = 0;
        r->v.last = 0;
        view_header(&r->v, L, k);
    }
    action act = ACT_NEXT;
    bool tried = false;
    for (int i = from; i < to; i++) {
        item *it = &L->items[i];
        switch (it->kind) {
        case IT_TEXT:
            view_gap(&r->v, 1);
            view_paragraph(&r->v, it->text);
            break;
        case IT_CODE: {
            view_gap(&r->v, 2);
            view_code(&r->v, it->text, ">>> ", "... ");
            if (it->fails) {
                if (run_failing(r, it) == 1)
                    return ACT_QUIT;
                break;
            }
            int rc = run_code(r, it->text, it->line, true);
            absorb_output(r);
            if (rc == 1)
                return ACT_QUIT;
            break;
        }
        case IT_CHECK:
            do_check(r, it);
            break;
        case IT_GRAPH:
            do_graph(r, it);
            break;
        case IT_WINDOW:
            if (r->window && r->s) {
                run_code(r, it->text, it->line, true);
                absorb_output(r);
            }
            break;
        case IT_RECAP:
            view_gap(&r->v, 3);
            view_line(&r->v, "Recap");
            r->v.last = 0;
            break;
        case IT_TRY:
            if (!tried) {
                view_gap(&r->v, 3);
                view_line(&r->v, "Try at the prompt:");
                tried = true;
            }
            view_code(&r->v, it->text, "  >>> ", "  ... ");
            break;
        case IT_PAUSE:
        case IT_PREDICT:
            break;
        }
        if (it->kind == IT_PAUSE || it->kind == IT_PREDICT) {
            if (it->kind == IT_PAUSE) {
                int lines = r->v.lines + 1;
                if (lines > r->worst) {
                    r->worst = lines;
                    r->worst_screen = it->line;
                }
                if (r->check && lines > PAGE_LINES)
                    fail(r, it->line, "screen %d takes %d lines; a page is %d", k + 1, lines,
                         PAGE_LINES);
                act = do_pause(r, false);
            } else {
                act = do_predict(r, it);
            }
            return act;
        }
    }
    /* the last screen */
    char end[512];
    snprintf(end, sizeof end, "── end of lesson %d (%s) · :lesson lists the others ──", L->number,
             L->name);
    view_gap(&r->v, 3);
    view_line(&r->v, end);
    if (r->v.lines > r->worst) {
        r->worst = r->v.lines;
        r->worst_screen = L->n ? L->items[L->n - 1].line : 0;
    }
    if (r->check && r->v.lines > PAGE_LINES)
        fail(r, L->n ? L->items[L->n - 1].line : 0, "the last screen takes %d lines; a page is %d",
             r->v.lines, PAGE_LINES);
    return ACT_NEXT;
}

/* Clear the session and run the code of screens [0, k) without showing anything. */
static int replay_to(runner *r, int k)
{
    silence q;
    silence_begin(r, &q);
    int rc = run_code(r, ":reset", 0, false);
    int bad = 0;
    for (int i = 0; rc >= 0 && k > 0 && i < r->L->screen[k]; i++) {
        const item *it = &r->L->items[i];
        if (it->kind == IT_CODE && run_code(r, it->text, it->line, false) < 0 && !it->fails)
            bad = it->line;
    }
    silence_end(&q);
    if (bad && r->out)
        fprintf(r->out, "lesson: line %d: this lesson's code failed while catching up\n", bad);
    return rc < 0 ? -1 : 0;
}

static int term_width(FILE *out)
{
    struct winsize ws;
    int fd = out ? fileno(out) : -1;
    if (fd >= 0 && isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col < PAGE_COLS ? ws.ws_col : PAGE_COLS;
    return PAGE_COLS;
}

/* What the runner last left behind in a session: its nodes are not the learner's own work. */
static bs_session *g_last_session;
static int32_t g_last_len = -1;

static int32_t session_nodes(bs_session *s)
{
    bs_ctx *c = bs_session_ctx(s);
    return c ? bs_tape_len(c) : 0;
}

int bs_lesson_run(bs_session *s, const char *name, FILE *in, FILE *out)
{
    if (!s || !name || !in || !out)
        return -1;
    lesson *L = bs__lesson_open(name, out);
    if (!L)
        return -1;
    runner r = {
        .L = L, .s = s, .in = in, .out = out, .check = false,
        .v = {.out = out, .width = term_width(out)},
    };
    bs_session_opts *o = bs_session_options(s);
    r.window = o && o->window;
    r.precision = o && o->precision > 0 ? o->precision : 6;

    int32_t held = session_nodes(s);
    if (held > 0 && !(g_last_session == s && g_last_len == held)) {
        fprintf(out, "A lesson starts from an empty session: clear your %d node%s? [y/N] ",
                (int)held, held == 1 ? "" : "s");
        char buf[64];
        if (!read_reply(&r, buf, sizeof buf) || (buf[0] != 'y' && buf[0] != 'Y')) {
            fprintf(out, "Nothing cleared; :lesson %s starts it when you are ready.\n", L->name);
            bs__lesson_free(L);
            return 1;
        }
    }

    progress_rec pr = {0};
    snprintf(pr.name, sizeof pr.name, "%s", L->name);
    bool had = bs__progress_get(L->name, &pr);
    int k = 0;
    if (had && pr.screen > 1 && pr.screen <= L->nscreens)
        k = pr.screen - 1;
    pr.total = L->nscreens;
    if (k > 0)
        fprintf(out, "Resuming lesson %d (%s) at screen %d of %d.\n", L->number, L->name, k + 1,
                L->nscreens);
    replay_to(&r, k);

    int ret = 0;
    bool cont = false;
    for (;;) {
        pr.screen = k + 1;
        bs__progress_put(&pr);
        action a = show_screen(&r, k, cont);
        cont = false;
        if (a == ACT_LEAVE || a == ACT_QUIT) {
            fprintf(out, "Left at screen %d of %d; :lesson %s picks up here.\n", k + 1,
                    L->nscreens, L->name);
            ret = a == ACT_QUIT ? 2 : 1;
            break;
        }
        if (a == ACT_BACK) {
            k = k > 0 ? k - 1 : 0;
            replay_to(&r, k);
            continue;
        }
        if (k + 1 >= L->nscreens) {
            pr.screen = 1;
            pr.done = true;
            bs__progress_put(&pr);
            ret = 0;
            break;
        }
        int endi = L->screen[k + 1] - 1;
        cont = L->items[endi].kind == IT_PREDICT;
        k++;
    }
    fflush(out);
    g_last_session = s;
    g_last_len = session_nodes(s);
    bs__lesson_free(L);
    return ret;
}

/* ==== Listing ==== */

int bs_lesson_list(bs_session *s, FILE *out)
{
    (void)s;
    lesson_entry *v;
    int n = bs__lesson_scan(&v);
    if (n < 0) {
        fprintf(out, "lesson: cannot read the lesson directory %s: %s\n", bs_lesson_dir(),
                strerror(errno));
        return -1;
    }
    progress_rec *pv;
    int np = bs__progress_read(&pv);
    fprintf(out, "Lessons (start one with :lesson NAME; q at a pause leaves, :lesson NAME resumes):\n");
    for (int i = 0; i < n; i++) {
        char err[1300], status[64] = "new";
        lesson *L = bs__lesson_load(v[i].path, err, sizeof err);
        for (int j = 0; j < np; j++) {
            if (strcmp(pv[j].name, v[i].name) != 0)
                continue;
            if (pv[j].done && pv[j].screen <= 1)
                snprintf(status, sizeof status, "done");
            else if (pv[j].done)
                snprintf(status, sizeof status, "done, at %d/%d", pv[j].screen, pv[j].total);
            else if (pv[j].screen > 1)
                snprintf(status, sizeof status, "%d/%d", pv[j].screen, pv[j].total);
        }
        const char *title = L && L->title ? L->title : "(does not parse)";
        int pad = TITLE_MAX - text_cols(title, strlen(title));
        fprintf(out, "  %2d  %-14s %s%*s %s\n", i + 1, v[i].name, title, pad > 0 ? pad : 0, "",
                status);
        bs__lesson_free(L);
    }
    free(pv);
    free(v);
    return n;
}

/* ==== Checking ==== */

/* Is the number `num`, as written, stated somewhere in the lesson's words? */
static bool stated_in(const char *text, const char *num)
{
    if (!text)
        return false;
    size_t n = strlen(num);
    for (const char *p = strstr(text, num); p; p = strstr(p + 1, num)) {
        char after = p[n];
        bool before_ok = true;
        if (p > text) {
            char b = p[-1];
            if (isdigit((unsigned char)b) || b == '.' || ((b == '-' || b == '+') && num[0] != '-'))
                before_ok = false;
            if (num[0] != '-' && p - text >= 3 && (unsigned char)p[-3] == 0xE2 &&
                (unsigned char)p[-2] == 0x88 && (unsigned char)p[-1] == 0x92)
                before_ok = false;   /* a Unicode minus */
        }
        if (before_ok && !isdigit((unsigned char)after) &&
            !(after == '.' && isdigit((unsigned char)p[n + 1])) && after != 'e')
            return true;
    }
    return false;
}

static bool lesson_states(const lesson *L, const char *num)
{
    for (int i = 0; i < L->n; i++) {
        const item *it = &L->items[i];
        if (it->kind == IT_TEXT && stated_in(it->text, num))
            return true;
        if (it->kind == IT_PREDICT &&
            (stated_in(it->text, num) || stated_in(it->hint, num) || stated_in(it->explain, num)))
            return true;
    }
    return false;
}

/* The checks that need no engine: structure, stated numbers. */
static void lint_structure(runner *r)
{
    lesson *L = r->L;
    if (!L->title)
        fail(r, 1, "no @title");
    else if (text_cols(L->title, strlen(L->title)) > TITLE_MAX)
        fail(r, 1, "the title is longer than %d columns", TITLE_MAX);
    bool recap = false, tried = false;
    for (int i = 0; i < L->n; i++) {
        const item *it = &L->items[i];
        if (it->kind == IT_RECAP)
            recap = true;
        if (it->kind == IT_TRY)
            tried = true;
        if (it->kind == IT_PREDICT) {
            if (!it->answer)
                fail(r, it->line, "prediction without @answer");
            if (!it->hint)
                fail(r, it->line, "prediction without @hint");
            if (!it->explain)
                fail(r, it->line, "prediction without @explain");
        }
        if (it->kind == IT_CHECK && !lesson_states(L, it->numtext))
            fail(r, it->line, "check %s == %s: the text never states %s", it->text, it->numtext,
                 it->numtext);
    }
    if (!recap)
        fail(r, L->n ? L->items[L->n - 1].line : 1, "no @recap at the end");
    if (!tried)
        fail(r, L->n ? L->items[L->n - 1].line : 1, "no @try lines after the recap");
}

static bs_session *check_session(runner *r)
{
    bs_session_opts o;
    memset(&o, 0, sizeof o);
    o.quiet = false;
    o.precision = 6;
    o.window = false;
    o.interactive = false;
    r->cap = open_memstream(&r->capbuf, &r->capsize);
    if (!r->cap)
        return NULL;
    return bs_session_new(&o, r->cap, r->cap);
}

/* Check (or, with engine false, lint) one loaded lesson; prints its line. Returns 0 if passed. */
static int check_one(lesson *L, FILE *out, bool engine)
{
    runner r = {.L = L, .check = true, .precision = 6, .v = {.out = NULL, .width = PAGE_COLS}};
    r.report = open_memstream(&r.repbuf, &r.repsize);
    lint_structure(&r);
    if (engine) {
        r.s = check_session(&r);
        if (!r.s)
            fail(&r, 1, "cannot make a session");
    }
    if (!engine || r.s) {
        bool cont = false;
        for (int k = 0; k < L->nscreens; k++) {
            if (show_screen(&r, k, cont) == ACT_QUIT) {
                fail(&r, L->items[L->screen[k]].line, "the lesson's code ran :quit");
                break;
            }
            cont = k + 1 < L->nscreens && L->items[L->screen[k + 1] - 1].kind == IT_PREDICT;
        }
        /* the lines to try must work too */
        for (int i = 0; r.s && i < L->n; i++)
            if (L->items[i].kind == IT_TRY) {
                if (run_code(&r, L->items[i].text, L->items[i].line, true) == 1)
                    break;
                absorb_output(&r);
            }
    }
    if (r.s)
        bs_session_free(r.s);
    if (r.cap)
        fclose(r.cap);
    free(r.capbuf);
    if (r.report)
        fclose(r.report);
    fprintf(out, "%s %2d %-14s %d screens, %d checks, %d predictions, longest screen %d lines\n",
            r.failures ? "FAIL" : "ok  ", L->number, L->name, L->nscreens, r.nchecks, r.npredicts,
            r.worst);
    if (r.failures && r.repbuf)
        fputs(r.repbuf, out);
    free(r.repbuf);
    fflush(out);
    return r.failures ? 1 : 0;
}

static int check_many(const char *only, FILE *out, bool engine)
{
    lesson_entry *v;
    int n = bs__lesson_scan(&v);
    if (n <= 0) {
        fprintf(out, "lesson: no lessons in %s\n", bs_lesson_dir());
        free(v);
        return -1;
    }
    int from = 0, to = n;
    if (only) {
        int i = bs__lesson_find(v, n, only);
        if (i < 0) {
            fprintf(out, "lesson: there is no lesson '%s'\n", only);
            free(v);
            return -1;
        }
        from = i;
        to = i + 1;
    }
    int passed = 0, failed = 0;
    for (int i = from; i < to; i++) {
        char err[1300];
        lesson *L = bs__lesson_load(v[i].path, err, sizeof err);
        if (!L) {
            fprintf(out, "FAIL %2d %-14s does not parse\n  %s\n", i + 1, v[i].name, err);
            failed++;
            continue;
        }
        snprintf(L->stem, sizeof L->stem, "%s", v[i].stem);
        snprintf(L->name, sizeof L->name, "%s", v[i].name);
        L->number = i + 1;
        if (check_one(L, out, engine))
            failed++;
        else
            passed++;
        bs__lesson_free(L);
    }
    free(v);
    if (!only)
        fprintf(out, "%d passed, %d failed\n", passed, failed);
    fflush(out);
    return failed;
}

int bs_lesson_check(const char *name, FILE *out)
{
    return check_many(name, out, true);
}

int bs_lesson_check_all(FILE *out)
{
    return check_many(NULL, out, true);
}

int bs_lesson_lint_all(FILE *out)
{
    return check_many(NULL, out, false);
}
