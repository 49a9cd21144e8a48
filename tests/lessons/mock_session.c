/* tests/lessons/mock_session.c: a stand-in for the REPL session, so the lesson runner's parsing,
 * screens, predictions, checks and progress can be tested without the evaluator.
 *
 * It understands just enough: `NAME = EXPR`, a bare `EXPR` (prints its value), `:reset`, `:quit`,
 * and `fail` (an error); EXPR is numbers and names joined left to right by + - * /.
 * Every statement it runs is appended to mock_log, so tests can see what was replayed. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl.h"

#define MOCK_VARS 64

struct bs_session {
    bs_session_opts opts;
    FILE *out;
    int n;
    char name[MOCK_VARS][32];
    double val[MOCK_VARS];
    int nodes;                 /* what bs_tape_len reports */
};

char mock_log[1 << 16];

static void log_stmt(const char *s)
{
    size_t n = strlen(mock_log);
    snprintf(mock_log + n, sizeof mock_log - n, "%s\n", s);
}

bs_session *bs_session_new(const bs_session_opts *o, FILE *out, FILE *err)
{
    (void)err;
    bs_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->opts = *o;
    s->out = out;
    return s;
}

void bs_session_free(bs_session *s) { free(s); }
bs_ctx *bs_session_ctx(bs_session *s) { return (bs_ctx *)s; }
int32_t bs_tape_len(const bs_ctx *c) { return ((const bs_session *)(const void *)c)->nodes; }
bs_session_opts *bs_session_options(bs_session *s) { return &s->opts; }

/* for tests: pretend the learner built something */
void mock_add_nodes(bs_session *s, int n) { s->nodes += n; }

static int lookup(bs_session *s, const char *name, size_t len)
{
    for (int i = 0; i < s->n; i++)
        if (strlen(s->name[i]) == len && strncmp(s->name[i], name, len) == 0)
            return i;
    return -1;
}

/* term (op term)* ; returns 0 or -1 with a message */
static int eval_expr(bs_session *s, const char *p, double *out, bs_error *e)
{
    double acc = 0;
    char op = '+';
    for (;;) {
        while (*p == ' ')
            p++;
        double v;
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            int i = lookup(s, p, (size_t)(q - p));
            if (i < 0) {
                if (e)
                    snprintf(e->msg, sizeof e->msg, "name '%.*s' is not defined", (int)(q - p), p);
                return -1;
            }
            v = s->val[i];
            p = q;
        } else {
            char *end;
            v = strtod(p, &end);
            if (end == p) {
                if (e)
                    snprintf(e->msg, sizeof e->msg, "cannot read '%s'", p);
                return -1;
            }
            p = end;
        }
        switch (op) {
        case '+': acc += v; break;
        case '-': acc -= v; break;
        case '*': acc *= v; break;
        case '/': acc /= v; break;
        }
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (!strchr("+-*/", *p)) {
            if (e)
                snprintf(e->msg, sizeof e->msg, "unexpected '%c'", *p);
            return -1;
        }
        op = *p++;
    }
    *out = acc;
    return 0;
}

static int eval_stmt(bs_session *s, char *st, bs_error *e)
{
    while (*st == ' ')
        st++;
    size_t n = strlen(st);
    while (n && st[n - 1] == ' ')
        st[--n] = '\0';
    if (!*st)
        return 0;
    log_stmt(st);
    if (!strcmp(st, ":reset")) {
        s->n = 0;
        s->nodes = 0;
        return 0;
    }
    if (!strcmp(st, ":quit"))
        return 1;
    if (!strcmp(st, "fail")) {
        snprintf(e->msg, sizeof e->msg, "failed on purpose");
        return -1;
    }
    if (st[0] == ':') {
        fprintf(s->out, "(%s)\n", st);
        return 0;
    }
    char *eq = strchr(st, '=');
    if (eq) {
        char *nm = st;
        *eq = '\0';
        size_t l = strlen(nm);
        while (l && nm[l - 1] == ' ')
            nm[--l] = '\0';
        double v;
        if (eval_expr(s, eq + 1, &v, e) < 0)
            return -1;
        int i = lookup(s, nm, l);
        if (i < 0) {
            if (s->n == MOCK_VARS)
                return -1;
            i = s->n++;
            snprintf(s->name[i], sizeof s->name[i], "%s", nm);
        }
        s->val[i] = v;
        s->nodes++;
        return 0;
    }
    double v;
    if (eval_expr(s, st, &v, e) < 0)
        return -1;
    fprintf(s->out, "%g\n", v);
    return 0;
}

int bs_session_eval(bs_session *s, const char *src, int line0, bs_error *e)
{
    bs_error dummy;
    if (!e)
        e = &dummy;
    memset(e, 0, sizeof *e);
    char *copy = strdup(src);
    if (!copy)
        return -1;
    int rc = 0, line = line0;
    char *save = NULL;
    for (char *st = strtok_r(copy, "\n;", &save); st; st = strtok_r(NULL, "\n;", &save)) {
        rc = eval_stmt(s, st, e);
        if (rc != 0) {
            e->line = line;
            e->col = 1;
            break;
        }
        line++;
    }
    free(copy);
    fflush(s->out);
    return rc;
}

int bs_session_number(bs_session *s, const char *expr, double *out, bs_error *e)
{
    bs_error dummy;
    if (!e)
        e = &dummy;
    memset(e, 0, sizeof *e);
    log_stmt(expr);
    return eval_expr(s, expr, out, e);
}
