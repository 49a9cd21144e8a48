/* repl/main.c: backstep's command line: options, script mode, the interactive REPL, lessons. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backstep.h"
#include "lesson.h"
#include "repl.h"
#include "term.h"
#include "viz.h"

/* ==== Exit statuses ==== */
enum { EXIT_OK = 0, EXIT_SCRIPT = 1, EXIT_USAGE = 2 };

/* ==== Options ==== */

#define MAX_EVALS 64

typedef struct {
    const char *file;          /* FILE, or NULL ("-" is standard input) */
    const char *evals[MAX_EVALS];
    int nevals;                /* -e STMTS, in order */
    const char *lesson;        /* --lesson NAME */
    bool check_lessons;
    bool interactive;          /* -i */
    bool quiet, no_window;
    int precision;             /* 0: the session's default */
    const char *mem_limit;     /* --mem-limit SIZE (else $BACKSTEP_MEM_LIMIT) */
} cli;

static const char usage_text[] =
    "usage: backstep [OPTIONS] [FILE] [-i]\n"
    "       backstep [OPTIONS] -e STMTS [-e STMTS ...] [-i]\n"
    "       backstep --lesson NAME | --check-lessons\n"
    "\n"
    "backstep is a REPL and visualizer for learning backpropagation.\n"
    "With no FILE and no -e it starts the interactive REPL when standard input is a\n"
    "terminal, and otherwise runs standard input as a script.\n"
    "\n"
    "  FILE               run the script FILE (\"-\" for standard input) and exit\n"
    "  -e STMTS           run the statements STMTS and exit (may be given more than once;\n"
    "                     they run in order, before FILE)\n"
    "  -i, --interactive  after FILE or -e, stay in the interactive REPL; alone, run the\n"
    "                     REPL (errors with carets, no exit on error) even on a pipe\n"
    "  --lesson NAME      start the lesson NAME (see :lesson for the list)\n"
    "  --check-lessons    run every lesson unattended, verify every number it states,\n"
    "                     print 'N passed, N failed'\n"
    "  -q, --quiet        print only the value of each bare expression, one per line\n"
    "  --precision N      significant digits for printed numbers (default 6); also\n"
    "                     --precision=N\n"
    "  --no-window        do not open the graph window\n"
    "  --theme NAME       the window's and exports' look: projector (large type, white\n"
    "                     ground), default, or a theme file (as :theme NAME)\n"
    "  --mem-limit SIZE   refuse tensors once the session would hold more than SIZE\n"
    "                     bytes (4GiB, 512M, 1e9; default: half the physical memory;\n"
    "                     also $BACKSTEP_MEM_LIMIT)\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      print the version and exit\n"
    "  --reference        print the reference of every op, function and command\n"
    "                     (Markdown, as docs/reference.md) and exit\n"
    "\n"
    "A script stops at its first error with 'FILE:LINE:COL: error: MESSAGE' on standard\n"
    "error. Exit status: 0 ok, 1 an error in a script, 2 a bad command line.\n"
    "History is kept in $XDG_STATE_HOME/backstep/history (~/.local/state/backstep/history).\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("backstep: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'backstep --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

static bool parse_precision(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 17)
        return false;
    *out = (int)v;
    return true;
}

/* The value of an option: the rest of "--name=value", or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *eq)
{
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Returns -1 when parsing went fine and the program goes on, else an exit status. */
static int parse_args(int argc, char **argv, cli *c)
{
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (c->file)
                return usage_error("unexpected argument '%s' (one script at a time)", a);
            c->file = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (a[1] != '-') { /* short options: -e STMTS (or -eSTMTS), -i, -q, -h, -V */
            if (a[1] == 'e') {
                const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
                if (!v)
                    return usage_error("option '%s' needs statements to run", "-e");
                if (c->nevals == MAX_EVALS)
                    return usage_error("too many -e options (at most %s)", "64");
                c->evals[c->nevals++] = v;
                continue;
            }
            for (const char *p = a + 1; *p; p++) {
                switch (*p) {
                case 'i': c->interactive = true; break;
                case 'q': c->quiet = true; break;
                case 'h': fputs(usage_text, stdout); return EXIT_OK;
                case 'V': printf("backstep %s\n", BS_VERSION); return EXIT_OK;
                default: return usage_error("unknown option '%s'", a);
                }
            }
            continue;
        }
        /* long options, with "--name=value" or "--name value" */
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (n == strlen(name) && strncmp(a, name, n) == 0)
        if (IS("--help") && !eq) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (IS("--reference") && !eq) {
            bs_reference_markdown(stdout);
            return EXIT_OK;
        } else if (IS("--version") && !eq) {
            printf("backstep %s\nfloat math: %s\n", BS_VERSION, bs_float_math());
            return EXIT_OK;
        } else if (IS("--quiet") && !eq) {
            c->quiet = true;
        } else if (IS("--no-window") && !eq) {
            c->no_window = true;
        } else if (IS("--interactive") && !eq) {
            c->interactive = true;
        } else if (IS("--check-lessons") && !eq) {
            c->check_lessons = true;
        } else if (IS("--precision")) {
            const char *v = option_value(argc, argv, &i, eq);
            if (!v)
                return usage_error("option '%s' needs a number of digits", "--precision");
            if (!parse_precision(v, &c->precision))
                return usage_error("--precision wants a whole number from 1 to 17, not '%s'", v);
        } else if (IS("--mem-limit")) {
            const char *v = option_value(argc, argv, &i, eq);
            if (!v || bs_bytes_parse(v) < 1)
                return usage_error("--mem-limit wants a size such as 4GiB, 512M or 1e9, not '%s'",
                                   v ? v : "");
            c->mem_limit = v;
        } else if (IS("--theme")) {
            const char *v = option_value(argc, argv, &i, eq);
            char why[256];
            if (!v || !v[0])
                return usage_error("option '%s' needs a theme: projector, default or a theme file",
                                   "--theme");
            if (bs_theme_use(v, why, sizeof why) != BS_OK)
                return usage_error("--theme: %s", why);
        } else if (IS("--lesson")) {
            const char *v = option_value(argc, argv, &i, eq);
            if (!v || !v[0])
                return usage_error("option '%s' needs a lesson name", "--lesson");
            c->lesson = v;
        } else if (IS("--eval")) {
            const char *v = option_value(argc, argv, &i, eq);
            if (!v)
                return usage_error("option '%s' needs statements to run", "--eval");
            if (c->nevals == MAX_EVALS)
                return usage_error("too many -e options (at most %s)", "64");
            c->evals[c->nevals++] = v;
        } else {
            return usage_error(eq ? "unknown option or unexpected value: '%s'" : "unknown option '%s'",
                               a);
        }
#undef IS
    }
    if (c->check_lessons && (c->file || c->nevals || c->lesson || c->interactive))
        return usage_error("%s runs alone", "--check-lessons");
    if (c->lesson && (c->file || c->nevals))
        return usage_error("%s cannot be combined with a script or -e", "--lesson");
    return -1;
}

/* ==== Modes ==== */

static bool have_display(void)
{
    const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
    return (x && x[0]) || (w && w[0]);
}

/* The interactive REPL on standard input (readline on a terminal, plain lines otherwise). */
static int run_repl(bs_session *s, bool banner)
{
    bs_term *t = bs_term_open(s);
    if (!t) {
        fputs("backstep: out of memory\n", stderr);
        return EXIT_SCRIPT;
    }
    bs_session_options(s)->interactive = true;
    if (banner && bs_term_is_tty(t)) {
        printf("backstep %s: type :help for help, Ctrl-D to quit\n", BS_VERSION);
        fflush(stdout);
    }
    int rc = bs_term_repl(t);
    bs_term_close(t);
    return rc;
}

/* Run -e statements then FILE, as scripts. Returns an exit status; *quit when :quit ran. */
static int run_scripts(bs_session *s, const cli *c, bool *quit)
{
    *quit = false;
    for (int i = 0; i < c->nevals && !*quit; i++)
        if (bs_term_run_string(s, c->evals[i], "-e", stderr, quit))
            return EXIT_SCRIPT;
    if (!c->file || *quit)
        return EXIT_OK;
    if (strcmp(c->file, "-") == 0)
        return bs_term_run_file(s, stdin, "<stdin>", stderr, quit) ? EXIT_SCRIPT : EXIT_OK;
    FILE *f = fopen(c->file, "r");
    if (!f) {
        fprintf(stderr, "backstep: cannot open '%s': %s\n", c->file, strerror(errno));
        return EXIT_USAGE;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode)) {
        fprintf(stderr, "backstep: cannot run '%s': %s\n", c->file,
                S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
        fclose(f);
        return EXIT_USAGE;
    }
    bs_session_script_begin(s, c->file);
    size_t fl = strlen(c->file);
    bs_session_opts *o = bs_session_options(s);
    bool was = o->python_file;
    o->python_file = fl > 3 && !strcmp(c->file + fl - 3, ".py");
    int rc = bs_term_run_file(s, f, c->file, stderr, quit) ? EXIT_SCRIPT : EXIT_OK;
    o->python_file = was;
    bs_session_script_end(s);
    fclose(f);
    return rc;
}

/* The heap as the tape's memory is (core/tape.c, "The tape's memory"): grown 16 MiB at a time
 * (address space: pages are made when first written) and, past its first 2 MiB boundary, as
 * transparent huge pages where the kernel offers them (MADV_HUGEPAGE, a hint), so that a long
 * script's statements, names and history do not take a page fault per 4 KiB (about 10 us each
 * on a virtual machine: a 4,177-line script went from 37 to 30 ms). glibc's own switch for this
 * (the glibc.malloc.hugetlb tunable) is read from the environment before main runs. */
static void heap_like_tape(void)
{
#if defined(M_TOP_PAD) && defined(MADV_HUGEPAGE)
    const size_t pad = (size_t)16 << 20, huge = (size_t)2 << 20;
    if (!mallopt(M_TRIM_THRESHOLD, (int)(2 * pad)) || !mallopt(M_TOP_PAD, (int)pad)) return;
    char *lo = sbrk(0);
    /* two blocks under the mmap threshold (128 KiB) are more than the first heap's top holds:
       it grows now, by the pad */
    void *volatile p = malloc((size_t)120 << 10), *volatile q = malloc((size_t)120 << 10);
    char *hi = sbrk(0);
    free(q);
    free(p);
    if (lo == (char *)-1 || hi == (char *)-1 || hi <= lo) return;
    uintptr_t a = ((uintptr_t)lo + huge - 1) & ~(uintptr_t)(huge - 1), b = (uintptr_t)hi & ~(uintptr_t)(huge - 1);
    if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
#endif
}

int main(int argc, char **argv)
{
    heap_like_tape();
    /* into a pipe or a file, stdout goes out in 64 KiB writes, not 4 KiB ones (a 65k-node :mem is
       4 MB); every statement still flushes it when it ends, so nothing waits longer than that */
    static char outbuf[1 << 16]; /* glibc sizes a buffer it allocates itself as it likes */
    if (!isatty(STDOUT_FILENO)) setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    cli c;
    memset(&c, 0, sizeof c);
    bs_repl_init(); /* the command table, for --reference and the lessons' sessions */
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0)
        return rc;

    if (c.check_lessons) {
        int failed = bs_lesson_check_all(stdout);
        fflush(stdout);
        return failed == 0 ? EXIT_OK : EXIT_SCRIPT;
    }

    bool stdin_tty = isatty(STDIN_FILENO) == 1;
    bool has_script = c.file || c.nevals > 0;
    /* Interactive: a terminal with nothing to run, or -i (which also forces it on a pipe). */
    bool ends_interactive = c.interactive || (!has_script && stdin_tty);
    bool script_stdin = !has_script && !stdin_tty && !c.interactive && !c.lesson;

    bs_session_opts o;
    memset(&o, 0, sizeof o);
    o.quiet = c.quiet;
    o.precision = c.precision ? c.precision : 6;
    o.interactive = !has_script && ends_interactive;
    o.window = !c.no_window && !c.quiet && ends_interactive && have_display();
    /* no display: no window and no error, just a note once (only for a person at a terminal) */
    if (ends_interactive && stdin_tty && !c.no_window && !c.quiet && !have_display())
        fputs("note: no display, so no graph window; :graph --ascii draws the graph here\n", stderr);
    const char *theme_err = getenv("BACKSTEP_THEME") ? bs_theme_env_error() : NULL;
    if (theme_err) fprintf(stderr, "warning: BACKSTEP_THEME: %s; the default theme is used\n", theme_err);
    double limit = 0;
    const char *lim = c.mem_limit ? c.mem_limit : getenv("BACKSTEP_MEM_LIMIT");
    if (lim && *lim && (limit = bs_bytes_parse(lim)) < 1) {
        fprintf(stderr, "backstep: BACKSTEP_MEM_LIMIT wants a size such as 4GiB, 512M or 1e9, "
                        "not '%s'\n", lim);
        return EXIT_USAGE;
    }
    bs_session *s = bs_session_new(&o, stdout, stderr);
    if (!s) {
        fputs("backstep: could not start a session (out of memory)\n", stderr);
        return EXIT_SCRIPT;
    }
    if (limit >= 1) bs_ctx_set_mem_limit(bs_session_ctx(s), limit > 1e18 ? (size_t)1e18 : (size_t)limit);

    if (c.lesson) {
        /* The lesson reads the learner's lines itself; when it ends (finished, or the learner
         * left it) a person at a terminal stays in the REPL with the lesson's session. */
        bs_session_options(s)->interactive = stdin_tty || c.interactive;
        int lr = bs_lesson_run(s, c.lesson, stdin, stdout);
        fflush(stdout);
        if (lr < 0)
            rc = EXIT_SCRIPT;
        else if (lr != 2 && (stdin_tty || c.interactive))
            rc = run_repl(s, false);
        else
            rc = EXIT_OK;
    } else if (script_stdin) {
        bool quit;
        rc = bs_term_run_file(s, stdin, "<stdin>", stderr, &quit) ? EXIT_SCRIPT : EXIT_OK;
    } else {
        bool quit = false;
        rc = EXIT_OK;
        if (has_script)
            rc = run_scripts(s, &c, &quit);
        /* -i: the script stopped at its error (reported above) or ran to the end: go on. */
        if (c.interactive && !quit && rc != EXIT_USAGE)
            rc = run_repl(s, !c.quiet && !has_script);
        else if (!has_script && !quit)
            rc = run_repl(s, !c.quiet);
    }
    fflush(stdout);
    bs_session_free(s);
    return rc;
}
