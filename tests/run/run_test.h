/* tests/run/run_test.h: what the run suite's C tests share: a CHECK that counts failures and goes
 * on, and (with BS_RUN_TEST_SESSION defined) a REPL session whose output is captured in memory. */
#ifndef BS_RUN_TEST_H
#define BS_RUN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            failures++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

#ifdef BS_RUN_TEST_SESSION
#include "repl_int.h"

typedef struct {
    bs_session *s;
    char *out;      /* everything the session printed */
    size_t len;
    FILE *f;
} sess;

static void sess_open(sess *t, bool quiet)
{
    t->out = NULL;
    t->len = 0;
    t->f = open_memstream(&t->out, &t->len);
    bs_session_opts o = {.quiet = quiet, .precision = 17, .window = false, .interactive = false};
    bs_repl_init();
    t->s = bs_session_new(&o, t->f, t->f);
}

static void sess_close(sess *t)
{
    bs_session_free(t->s);
    fclose(t->f);
    free(t->out);
}

/* evaluate; returns the error message ("" on success) */
static const char *eval(sess *t, const char *src)
{
    static bs_error e;
    memset(&e, 0, sizeof e);
    int rc = bs_session_eval(t->s, src, 1, &e);
    fflush(t->f);
    return rc < 0 ? e.msg : "";
}
#endif

#endif
