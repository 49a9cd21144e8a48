/* repl/repl.h: the REPL's public contract: a session that evaluates backstep source (docs/language.md).
 *
 * A bs_session owns a core context (bs_ctx), the name table, optimizers, options and the output
 * streams. It is what main.c, the lesson runner and the tests drive. Evaluation never exits:
 * every error comes back as a status with a message and a source position, and a statement that
 * fails leaves the session exactly as it was before that statement.
 */
#ifndef BS_REPL_H
#define BS_REPL_H

#include <stdbool.h>
#include <stdio.h>

#include "backstep.h"

typedef struct bs_session bs_session;

typedef struct {
    bool quiet;          /* --quiet: only bare expression values, one per line */
    int precision;       /* significant digits (default 6) */
    bool window;         /* try to open the window (false with --no-window or no display) */
    bool interactive;    /* a person at a terminal: carets under errors, prompts */
    bool python_file;    /* running a .py file: as Python, a bare expression prints nothing */
} bs_session_opts;

typedef struct {
    int line, col;       /* 1-based position of the error in the source given to eval */
    char msg[512];
} bs_error;

bs_session *bs_session_new(const bs_session_opts *o, FILE *out, FILE *err);
/* Registers the REPL's commands (:step, :graph, :run, ... : repl/session.c), once per process,
   before the first session runs a command; a session made before still sees them. Without it a
   session is the language alone and every :command is unknown. */
void bs_repl_init(void);
void bs_session_free(bs_session *s);
bs_ctx *bs_session_ctx(bs_session *s);
bs_session_opts *bs_session_options(bs_session *s);

/* Evaluate source (one or more lines; statements separated by newlines or ';').
 * `line0` is the line number of the first line (for messages). Output goes to the session's out.
 * Returns 0 on success, -1 on an error (details in *e if non-NULL), 1 if :quit was run.
 * Stops at the first failing statement; statements before it keep their effect. */
int bs_session_eval(bs_session *s, const char *src, int line0, bs_error *e);
/* bracket the run of a script file, so that a :load of it from inside is refused */
void bs_session_script_begin(bs_session *s, const char *path);
void bs_session_script_end(bs_session *s);

/* Evaluate one expression to a number (a scalar value, or x.item()): for lesson checks. */
int bs_session_number(bs_session *s, const char *expr, double *out, bs_error *e);

/* Is src an incomplete statement (open brackets, trailing operator)? For continuation prompts. */
bool bs_session_incomplete(const char *src);
/* for a script reader: brackets or a '\' still open; a compound statement (if, for, def, ...)
   that the next unindented line ends; a line that goes on one (elif, else) */
bool bs_session_unclosed(const char *src);
bool bs_session_block_open(const char *src);
/* line is a one-line chunk that ran in this session before and keeps its parse: complete as it
   is (neither unclosed nor opening a block), so a script need not scan it again */
bool bs_session_seen_line(bs_session *s, const char *line);
bool bs_session_continues_block(const char *line);
bool bs_session_pending_decorator(const char *src);

/* Is a stepper pass active (Enter then means :next)? */
bool bs_session_stepping(bs_session *s);

/* Completion candidates for the word at the end of `line` (names, functions, commands, attributes
 * after '.'), in repl/complete.c. Calls add(ud, candidate) for each; a candidate is valid only
 * during the call (add copies what it keeps). */
void bs_session_complete(bs_session *s, const char *line, const char *word,
                         void (*add)(void *ud, const char *cand), void *ud);

/* The reference of every op, builtin and command, as Markdown (docs/reference.md). */
void bs_reference_markdown(FILE *f);

/* Let long work stop (SIGINT handler calls this). */
void bs_session_interrupt(bs_session *s);

/* Called by the poll loop between keystrokes: pumps the window if one is open. */
void bs_session_idle(bs_session *s);

/* The window follows finished commands, not statements: between hold and release (a script run
 * chunk by chunk, a :load) statements only mark it stale, and the last release redraws it once
 * (one layout). Holds nest. */
void bs_session_window_hold(bs_session *s);
void bs_session_window_release(bs_session *s);

#endif
