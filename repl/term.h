/* repl/term.h: the terminal layer: line input (GNU Readline or plain lines), history, Ctrl-C, scripts.
 *
 * What this module owns
 *   Everything between the keyboard (or a script) and a bs_session: reading lines, joining the
 *   lines of a statement while brackets are open, the continuation prompt, completion and history
 *   (GNU Readline, only when standard input is a terminal and the build has it), Ctrl-C and Ctrl-D,
 *   and printing errors (`FILE:LINE:COL: error: MSG` for scripts, a caret under the column for the
 *   interactive REPL). Nothing below repl/ knows about readline: only term.c includes it.
 *
 * Who frees what
 *   A bs_term belongs to its caller (bs_term_open / bs_term_close) and borrows the session, which
 *   must outlive it. Lines returned by bs_term_read_line are malloc'ed: the caller frees them.
 *   There is at most one bs_term open at a time (readline and the SIGINT handler are per process).
 *
 * What an error means
 *   Nothing here exits or aborts. Script runners return 0 (done, or :quit) or 1 (stopped at an
 *   error, which they printed to `err`). The REPL loop returns when the user quits.
 *
 * The loop
 *   With readline, input uses the callback interface (rl_callback_read_char) behind a poll() on
 *   standard input with a ~16 ms timeout; bs_session_idle() runs between keystrokes so the window
 *   keeps drawing while the user types. During an evaluation, Ctrl-C calls bs_session_interrupt()
 *   (the third Ctrl-C in one evaluation ends the process, in case something never checks); at the
 *   prompt it drops the line (and any open continuation) and shows a fresh prompt.
 */
#ifndef BS_TERM_H
#define BS_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "repl.h"

#define BS_TERM_PS1 ">>> "       /* primary prompt */
#define BS_TERM_PS2 "... "       /* continuation prompt (brackets open) */
#define BS_TERM_HISTORY_MAX 1000 /* lines kept in the history file */
#define BS_TERM_HISTORY_LINE_MAX 16384 /* longer lines are not kept: recalling one would freeze
                                          the line editor (the statement still runs) */

/* ==== Scripts ==== */

/* Run a script read from `in`, named `name` in messages (a path, "<stdin>", "-e").
 * Lines are joined while bs_session_incomplete() says the statement goes on; each joined chunk is
 * evaluated with its first line number. Stops at the first error and prints
 * `NAME:LINE:COL: error: MSG` to `err`. Returns 0 (all ran, or :quit), 1 (error). If `quit` is
 * non-NULL it is set to true when the script ran :quit. */
int bs_term_run_file(bs_session *s, FILE *in, const char *name, FILE *err, bool *quit);

/* The same for a string (one -e argument). */
int bs_term_run_string(bs_session *s, const char *src, const char *name, FILE *err, bool *quit);

/* ==== Error display ==== */

/* Script form: `NAME:LINE:COL: error: MSG\n`. */
void bs_term_print_error(FILE *f, const char *name, const bs_error *e);

/* Interactive form: the offending line of `src` (whose first line is number `line0`), a caret
 * under the error's column, then `error: MSG`. Without a usable position, only `error: MSG`. */
void bs_term_print_caret(FILE *f, const char *src, int line0, const bs_error *e);

/* ==== The interactive terminal ==== */

typedef struct bs_term bs_term;

typedef enum {
    BS_TERM_LINE,   /* a line was read (without its newline) */
    BS_TERM_EOF,    /* Ctrl-D on an empty line, or the end of input (on a terminal, the cursor
                     * is left at the start of a new line) */
    BS_TERM_CANCEL  /* Ctrl-C at the prompt: the line was dropped */
} bs_term_status;

/* Open the terminal layer on standard input/output for session `s`. Readline (editing, completion,
 * history) is used when the build has it and stdin and stdout are terminals; otherwise plain lines
 * are read, with prompts only when stdin is a terminal. Installs the SIGINT handler. Returns NULL
 * only when out of memory; without a history file (no HOME, read-only disk) history simply stays
 * in memory. */
bs_term *bs_term_open(bs_session *s);

/* Save what is left of the history, restore the terminal and the signal handlers, free t. */
void bs_term_close(bs_term *t);

/* Is this a person at a terminal (stdin is a tty)? */
bool bs_term_is_tty(const bs_term *t);

/* Does this terminal edit lines with readline? */
bool bs_term_has_readline(const bs_term *t);

/* Read one line with `prompt`, pumping bs_session_idle() while waiting. On BS_TERM_LINE, *line is
 * a malloc'ed line without its newline. The line is NOT added to the history (see below). */
bs_term_status bs_term_read_line(bs_term *t, const char *prompt, char **line);

/* Add a typed line to the history (memory and file); blank lines and a repeat of the previous
 * entry are skipped. Does nothing without readline (no terminal). */
void bs_term_history_add(bs_term *t, const char *line);

/* The history file: $XDG_STATE_HOME/backstep/history, else ~/.local/state/backstep/history.
 * Writes the path into buf; false if there is no home directory or the path does not fit. */
bool bs_term_history_path(char *buf, size_t n);

/* Evaluate src as typed input with Ctrl-C routed to bs_session_interrupt(); errors are printed with
 * a caret to stdout. Returns bs_session_eval's result (0, -1, or 1 for :quit). */
int bs_term_eval(bs_term *t, const char *src);

/* The REPL: prompts, continuation lines, evaluation, errors with carets, an empty line as :next
 * while stepping. Returns 0 when the user quits (:quit or Ctrl-D). */
int bs_term_repl(bs_term *t);

#endif
