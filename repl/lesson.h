/* repl/lesson.h: the lesson runner's contract: list, run (interactive, resumable) and check
 * lessons.
 *
 * Lessons are plain-text files (format: lessons/README.md) named NN-NAME.lesson in the lesson
 * directory: $BACKSTEP_LESSON_DIR when set, else the directory compiled in as BS_LESSON_DIR (the
 * source tree's lessons/), else BS_LESSON_INSTALL_DIR (an installed copy) when that is defined.
 * A lesson is addressed by NAME ("chain-rule"), by its file stem ("01-chain-rule"), by its number
 * ("1") or by an unambiguous prefix of its name.
 *
 * Progress (the screen each lesson was left at, and whether it was finished) is kept in
 * $XDG_STATE_HOME/backstep/lessons.progress (XDG_STATE_HOME defaults to ~/.local/state).
 *
 * Output: everything the runner shows goes to the `out` stream it is given; code it runs prints
 * through the session, to the session's own output. Errors (unknown lesson, a file that does not
 * parse, lesson code that fails) are written to `out` as one line starting "lesson: " and come back
 * as a negative status. Nothing here exits the process.
 */
#ifndef BS_LESSON_H
#define BS_LESSON_H

#include <stdio.h>

#include "repl.h"

/* The directory lessons are read from (never NULL). */
const char *bs_lesson_dir(void);

/* Print the lessons in order: number, name, title and progress ("new", "3/9", "done").
 * `s` is unused (may be NULL). Returns the number of lessons, or -1 if the directory is missing. */
int bs_lesson_list(bs_session *s, FILE *out);

/* Call add(ud, name) for every lesson name, in order (for completion after `:lesson `). */
void bs_lesson_names(void (*add)(void *ud, const char *name), void *ud);

/* Run a lesson interactively in session `s`, reading the learner's replies from `in` (one line
 * each) and showing the lesson on `out`. It resumes at the saved screen of an unfinished lesson
 * (replaying the earlier screens' code without output), and starts over on a finished one.
 * The lesson starts from an empty session: if `s` holds work that is not this runner's, the
 * learner is asked before it is cleared (`:reset`).
 * Returns 0 when the lesson was finished, 1 when the learner left (progress saved; `:lesson NAME`
 * resumes), 2 when the learner typed :quit at a pause (leave, then quit the REPL), -1 on error. */
int bs_lesson_run(bs_session *s, const char *name, FILE *in, FILE *out);

/* Unattended check of one lesson (name as for bs_lesson_run) or of all of them, each in a fresh
 * session of its own without a window: every code line must run, every prediction is answered
 * from the engine, every check must hold, every number a check asserts must be stated in the text,
 * every screen must fit a terminal page (24 lines of 80 columns), and the lesson must end with a
 * recap and lines to try (which are run too). Prints one line per lesson (and the reasons for a
 * failure), then bs_lesson_check_all prints "N passed, N failed".
 * Return the number of failed lessons (0: all passed), or -1 if no lesson could be found. */
int bs_lesson_check(const char *name, FILE *out);
int bs_lesson_check_all(FILE *out);

/* The static part of the check, without a session or engine: every lesson parses, has a title,
 * recap and things to try, every prediction has an answer, hint and explanation, every check's
 * number appears in the text, and every screen's narration fits a page. Prints like check_all. */
int bs_lesson_lint_all(FILE *out);

#endif
