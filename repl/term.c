/* repl/term.c: line input behind a small wrapper (GNU Readline's callback interface or plain lines),
 * completion, persistent history, Ctrl-C and Ctrl-D, script runners and error display. */
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef BS_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#define BS_TERM_POLL_MS 16 /* how often the window is pumped while waiting for a key */

/* ==== Growing strings ==== */

typedef struct {
    char *s;
    size_t len, cap;
} strbuf;

static bool sb_reserve(strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p)
        return false;
    b->s = p;
    b->cap = cap;
    return true;
}

/* Append a line; lines of one statement are joined with '\n'. */
static bool sb_add_line(strbuf *b, const char *line)
{
    size_t n = strlen(line);
    if (!sb_reserve(b, n + 1))
        return false;
    if (b->len)
        b->s[b->len++] = '\n';
    memcpy(b->s + b->len, line, n);
    b->len += n;
    b->s[b->len] = '\0';
    return true;
}

static void sb_clear(strbuf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* ==== Error display ==== */

void bs_term_print_error(FILE *f, const char *name, const bs_error *e)
{
    int line = e->line > 0 ? e->line : 1;
    int col = e->col > 0 ? e->col : 1;
    fprintf(f, "%s:%d:%d: error: %s\n", name, line, col, e->msg);
    fflush(f);
}

void bs_term_print_caret(FILE *f, const char *src, int line0, const bs_error *e)
{
    int want = e->line - line0; /* 0-based line within src */
    const char *p = src;
    for (int i = 0; p && i < want; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (e->line >= line0 && e->col > 0 && p) {
        size_t n = strcspn(p, "\n");
        /* The line as typed, then a caret under the column (columns count bytes; the caret counts
         * characters so it lands right under UTF-8 text too, and copies tabs to stay aligned). */
        fprintf(f, "    %.*s\n    ", (int)n, p);
        for (size_t i = 0; i + 1 < (size_t)e->col && i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '\t')
                fputc('\t', f);
            else if ((c & 0xC0) != 0x80)
                fputc(' ', f);
        }
        fputs("^\n", f);
    }
    fprintf(f, "error: %s\n", e->msg);
    fflush(f);
}

/* ==== Scripts ==== */

/* Evaluate one joined chunk of a script; print the error in script form. */
static int script_chunk(bs_session *s, const char *src, int line0, const char *name, FILE *err,
                        bool *quit)
{
    bs_error e;
    memset(&e, 0, sizeof e);
    int r = bs_session_eval(s, src, line0, &e);
    fflush(stdout);
    if (r < 0) {
        if (e.line <= 0) /* no position: point at the chunk */
            e.line = line0;
        bs_term_print_error(err, name, &e);
        return 1;
    }
    if (r == 1 && quit)
        *quit = true;
    return 0;
}

int bs_term_run_file(bs_session *s, FILE *in, const char *name, FILE *err, bool *quit)
{
    strbuf buf = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, line0 = 1, rc = 0;
    bool q = false;
    if (quit)
        *quit = false;
    ssize_t got;
    bs_session_window_hold(s); /* the window redraws once, when the script is done */
    while (!q && (got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if ((size_t)got != strlen(line)) { /* a NUL byte would cut the line short unseen */
            bs_error e = {.line = lineno, .col = (int)strlen(line) + 1};
            snprintf(e.msg, sizeof e.msg, "a NUL byte in the line (this is not a text file)");
            bs_term_print_error(err, name, &e);
            rc = 1;
            break;
        }
        chomp(line);
        char *text = line;
        if (lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
            text += 3;
        /* a compound statement ends at the next line that is not indented (nor elif/else,
           nor a comment): run it first */
        if (buf.len && !is_blank(text) && text[0] != ' ' && text[0] != '\t' && text[0] != '#' &&
            bs_session_block_open(buf.s) && !bs_session_unclosed(buf.s) &&
            !bs_session_continues_block(text) && !bs_session_pending_decorator(buf.s)) {
            rc = script_chunk(s, buf.s, line0, name, err, &q);
            sb_clear(&buf);
            if (rc || q)
                break;
        }
        if (buf.len == 0) {
            if (is_blank(text))
                continue;
            line0 = lineno;
        }
        if (!sb_add_line(&buf, text)) {
            bs_error e = {.line = lineno, .col = 1};
            snprintf(e.msg, sizeof e.msg, "out of memory reading the script");
            bs_term_print_error(err, name, &e);
            rc = 1;
            break;
        }
        /* a line run before as it is (an unrolled loop's) is complete: no need to scan it */
        bool known = line0 == lineno && bs_session_seen_line(s, buf.s);
        if (!known && (bs_session_unclosed(buf.s) || bs_session_block_open(buf.s)))
            continue;
        rc = script_chunk(s, buf.s, line0, name, err, &q);
        sb_clear(&buf);
        if (rc)
            break;
    }
    /* An unfinished statement at the end: let the evaluator say what is missing. */
    if (!rc && !q && buf.len)
        rc = script_chunk(s, buf.s, line0, name, err, &q);
    bs_session_window_release(s);
    if (quit)
        *quit = q;
    free(line);
    free(buf.s);
    return rc;
}

int bs_term_run_string(bs_session *s, const char *src, const char *name, FILE *err, bool *quit)
{
    if (quit)
        *quit = false;
    if (!src[0])
        return 0;
    FILE *f = fmemopen((void *)src, strlen(src), "r");
    if (!f) { /* no memory for a stream: run it as one chunk */
        bool q = false;
        int rc = script_chunk(s, src, 1, name, err, &q);
        if (quit)
            *quit = q;
        return rc;
    }
    int rc = bs_term_run_file(s, f, name, err, quit);
    fclose(f);
    return rc;
}

/* ==== Signals ====
 * One terminal per process, so the handler's state is file-level. The handler only touches
 * sig_atomic_t flags and bs_session_interrupt(), which only sets a flag. */

enum { PHASE_PROMPT, PHASE_EVAL };

static volatile sig_atomic_t g_phase = PHASE_PROMPT;
static volatile sig_atomic_t g_sigint;      /* Ctrl-C at the prompt, not yet handled */
static volatile sig_atomic_t g_eval_sigints; /* Ctrl-C presses during this evaluation */
static volatile sig_atomic_t g_sigwinch;
static volatile sig_atomic_t g_sigtstp;     /* Ctrl-Z at a readline prompt */
static bs_session *volatile g_session;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_phase == PHASE_EVAL) {
        if (++g_eval_sigints >= 3) { /* something never checks the flag: give up the process */
            signal(SIGINT, SIG_DFL);
            raise(SIGINT);
            return;
        }
        if (g_session)
            bs_session_interrupt(g_session);
    } else {
        g_sigint = 1;
    }
}

static void on_sigwinch(int sig)
{
    (void)sig;
    g_sigwinch = 1;
}

#ifdef BS_HAVE_READLINE
static void on_sigtstp(int sig)
{
    (void)sig;
    g_sigtstp = 1;
}
#endif

/* ==== The terminal ==== */

struct bs_term {
    bs_session *s;
    bool tty;              /* stdin is a terminal */
    bool rl;               /* readline edits the lines */
    bool history_file;     /* hist_path is usable */
    char hist_path[4096];
    struct sigaction old_int, old_winch;
    strbuf pending;        /* REPL: lines of a statement still open */
};

bool bs_term_is_tty(const bs_term *t) { return t->tty; }
bool bs_term_has_readline(const bs_term *t) { return t->rl; }

bool bs_term_history_path(char *buf, size_t n)
{
    const char *state = getenv("XDG_STATE_HOME");
    int k;
    if (state && state[0] == '/') { /* the spec ignores relative values */
        k = snprintf(buf, n, "%s/backstep/history", state);
    } else {
        const char *home = getenv("HOME");
        if (!home || !home[0])
            return false;
        k = snprintf(buf, n, "%s/.local/state/backstep/history", home);
    }
    return k > 0 && (size_t)k < n;
}

#ifdef BS_HAVE_READLINE

/* ==== Readline: history file ==== */

/* mkdir -p for the directories above `path` (mode 0700, as XDG asks for state). */
static bool make_parent_dirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            *p = '/';
            return false;
        }
        *p = '/';
    }
    return true;
}

/* ==== Readline: completion ==== */

static struct {
    char **v;
    size_t n, cap;
    const char *word;     /* only candidates that start with it */
} g_cands;

static void cands_clear(void)
{
    for (size_t i = 0; i < g_cands.n; i++)
        free(g_cands.v[i]);
    g_cands.n = 0;
}

static void cand_add(void *ud, const char *cand)
{
    (void)ud;
    size_t wl = strlen(g_cands.word);
    if (strncmp(cand, g_cands.word, wl) != 0)
        return;
    for (size_t i = 0; i < g_cands.n; i++)
        if (strcmp(g_cands.v[i], cand) == 0)
            return;
    if (g_cands.n == g_cands.cap) {
        size_t cap = g_cands.cap ? 2 * g_cands.cap : 32;
        char **v = realloc(g_cands.v, cap * sizeof *v);
        if (!v)
            return;
        g_cands.v = v;
        g_cands.cap = cap;
    }
    char *c = strdup(cand);
    if (c)
        g_cands.v[g_cands.n++] = c;
}

static char *cand_next(const char *text, int state)
{
    static size_t i;
    (void)text;
    if (state == 0)
        i = 0;
    return i < g_cands.n ? strdup(g_cands.v[i++]) : NULL;
}

/* Commands whose argument is a file name: complete paths there. */
static bool line_wants_file(const char *line)
{
    static const char *const cmds[] = {":export", ":save", ":load", ":screenshot"};
    while (*line == ' ' || *line == '\t')
        line++;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        size_t n = strlen(cmds[i]);
        if (strncmp(line, cmds[i], n) == 0 && (line[n] == ' ' || line[n] == '\t'))
            return true;
    }
    return false;
}

/* Words break at blanks, operators, brackets and '.', so `x.gr` completes `gr` as an attribute
 * and `(sigm` completes `sigm`; ':' does not break, so `:he` is the word of a command. In a
 * command that takes a file name, only blanks and quotes break. */
static const char g_breaks[] = " \t\n\"'`@$><=;|&{}()[],+-*/%.!^~";
static char g_file_breaks[] = " \t\n\"'";

static char *word_break_hook(void)
{
    return line_wants_file(rl_line_buffer) ? g_file_breaks : NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    rl_attempted_completion_over = 1; /* never fall back to file names unless asked below */
    char *line = strndup(rl_line_buffer, (size_t)end);
    if (!line)
        return NULL;
    cands_clear();
    g_cands.word = text;
    if (g_session)
        bs_session_complete(g_session, line, text, cand_add, NULL);
    if (g_cands.n == 0 && line_wants_file(line)) {
        free(line);
        rl_attempted_completion_over = 0;
        return NULL; /* readline completes a file name */
    }
    free(line);
    char **m = g_cands.n ? rl_completion_matches(text, cand_next) : NULL;
    /* A unique function completes to `name(`, an object to `name.`: no space after those. */
    if (m && m[0] && !m[1]) {
        size_t n = strlen(m[0]);
        if (n && strchr("(.[", m[0][n - 1]))
            rl_completion_append_character = '\0';
    }
    return m;
}

/* ==== Readline: the callback loop ==== */

static char *g_rl_line;
static bool g_rl_done, g_rl_eof;

static void on_line(char *line)
{
    /* Take the handler away before readline redraws a prompt: the next prompt depends on what
     * this line does (continuation or not), and evaluation runs in between. */
    rl_callback_handler_remove();
    g_rl_line = line;
    g_rl_eof = line == NULL;
    g_rl_done = true;
}

/* Ctrl-C at the prompt: show ^C, drop the line and redraw an empty prompt. */
static void rl_cancel_line(void)
{
    rl_echo_signal_char(SIGINT);
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_point = rl_end = 0;
    using_history(); /* Up starts again from the newest entry */
    fputc('\n', rl_outstream);
    fflush(rl_outstream);
}

/* Ctrl-Z at the prompt: give the terminal back as it was, stop, and on `fg` take it again and
 * redraw the line being typed (the shell does not restore a stopped job's terminal modes). */
static void rl_suspend(const char *prompt)
{
    char *saved = strdup(rl_line_buffer);
    int point = rl_point;
    rl_callback_handler_remove();
    fputc('\n', rl_outstream);
    fflush(rl_outstream);
    struct sigaction dfl, ours;
    memset(&dfl, 0, sizeof dfl);
    sigemptyset(&dfl.sa_mask);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTSTP, &dfl, &ours);
    raise(SIGTSTP); /* stops here until SIGCONT */
    sigaction(SIGTSTP, &ours, NULL);
    rl_callback_handler_install(prompt, on_line);
    if (saved) {
        rl_replace_line(saved, 0);
        rl_point = point <= rl_end ? point : rl_end;
        rl_redisplay();
        free(saved);
    }
}

static bs_term_status rl_read(bs_term *t, const char *prompt, char **out)
{
    g_rl_done = g_rl_eof = false;
    g_rl_line = NULL;
    g_sigint = 0;
    g_sigtstp = 0;
    /* Ctrl-Z is ours only while readline holds the terminal; during evaluation it is the default. */
    struct sigaction sa, old_tstp;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sigtstp;
    sigaction(SIGTSTP, &sa, &old_tstp);
    rl_callback_handler_install(prompt, on_line);
    bs_term_status st = BS_TERM_LINE;
    while (!g_rl_done) {
        struct pollfd p = {.fd = fileno(rl_instream), .events = POLLIN};
        int r = poll(&p, 1, BS_TERM_POLL_MS);
        if (g_sigint) {
            g_sigint = 0;
            rl_cancel_line();
            rl_callback_handler_remove();
            st = BS_TERM_CANCEL;
            break;
        }
        if (g_sigtstp) {
            g_sigtstp = 0;
            rl_suspend(prompt);
            continue;
        }
        if (g_sigwinch) {
            g_sigwinch = 0;
            rl_resize_terminal();
        }
        if (r > 0) {
            if (p.revents & (POLLIN | POLLHUP | POLLERR))
                rl_callback_read_char();
        } else if (r < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            g_rl_eof = true;
            break;
        }
        bs_session_idle(t->s);
    }
    sigaction(SIGTSTP, &old_tstp, NULL);
    if (st == BS_TERM_CANCEL)
        return st;
    if (g_rl_eof) {
        /* Ctrl-D: end the prompt's line, unless readline already did (it prints a newline at EOF
         * when it leaves bracketed-paste mode). */
        const char *bp = rl_variable_value("enable-bracketed-paste");
        if (!(rl_eof_found && bp && strcmp(bp, "on") == 0)) {
            fputc('\n', rl_outstream);
            fflush(rl_outstream);
        }
        return BS_TERM_EOF;
    }
    *out = g_rl_line;
    return BS_TERM_LINE;
}

static void rl_setup(bs_term *t)
{
    rl_readline_name = "backstep"; /* for $if backstep in ~/.inputrc */
    rl_catch_signals = 0;          /* our SIGINT handler routes Ctrl-C */
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;     /* leave LINES and COLUMNS alone */
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = g_breaks;
    rl_completion_word_break_hook = word_break_hook;
    rl_basic_quote_characters = "\"'";
    using_history();
    stifle_history(BS_TERM_HISTORY_MAX);
    if (!t->tty || !bs_term_history_path(t->hist_path, sizeof t->hist_path))
        return;
    if (!make_parent_dirs(t->hist_path))
        return;
    int fd = open(t->hist_path, O_WRONLY | O_CREAT | O_APPEND, 0600); /* append_history needs it */
    if (fd < 0)
        return;
    close(fd);
    t->history_file = true;
    struct stat sb;
    if (stat(t->hist_path, &sb) == 0 && S_ISREG(sb.st_mode) &&
        sb.st_size <= (off_t)BS_TERM_HISTORY_MAX * BS_TERM_HISTORY_LINE_MAX)
        read_history(t->hist_path);
    for (int i = history_length - 1; i >= 0; i--) { /* drop what no one can recall usefully */
        HIST_ENTRY *h = history_get(history_base + i);
        if (h && strlen(h->line) > BS_TERM_HISTORY_LINE_MAX) {
            HIST_ENTRY *r = remove_history(i);
            if (r) free(free_history_entry(r));
        }
    }
    history_truncate_file(t->hist_path, BS_TERM_HISTORY_MAX); /* in case a session was killed */
}

#endif /* BS_HAVE_READLINE */

/* ==== Plain lines ==== */

static bs_term_status plain_read(bs_term *t, const char *prompt, char **out)
{
    g_sigint = 0;
    if (t->tty) {
        fputs(prompt, stdout);
        fflush(stdout);
        /* A terminal in canonical mode hands over one line per read, so stdio never holds a
         * second one back while we wait here for the next. */
        for (;;) {
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            int r = poll(&p, 1, BS_TERM_POLL_MS);
            if (g_sigint) {
                g_sigint = 0;
                fputc('\n', stdout);
                fflush(stdout);
                return BS_TERM_CANCEL;
            }
            if (r > 0 || (r < 0 && errno != EINTR))
                break;
            bs_session_idle(t->s);
        }
    }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (t->tty && !(errno == EINTR && g_sigint)) { /* Ctrl-D: end the prompt's line */
            fputc('\n', stdout);
            fflush(stdout);
        }
        if (errno == EINTR && g_sigint) {
            clearerr(stdin);
            g_sigint = 0;
            fputc('\n', stdout);
            fflush(stdout);
            return BS_TERM_CANCEL;
        }
        return BS_TERM_EOF;
    }
    if ((size_t)n != strlen(line)) {
        /* a NUL byte: say so, and drop the line rather than run the part before it */
        fprintf(stdout, "error: a NUL byte in the line at column %zu; the line was dropped\n",
                strlen(line) + 1);
        fflush(stdout);
        line[0] = '\0';
    }
    chomp(line);
    if (!strncmp(line, "\xEF\xBB\xBF", 3)) memmove(line, line + 3, strlen(line + 3) + 1); /* a BOM */
    *out = line;
    return BS_TERM_LINE;
}

/* ==== The interactive terminal ==== */

bs_term *bs_term_open(bs_session *s)
{
    bs_term *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    t->tty = isatty(STDIN_FILENO) == 1;
#ifdef BS_HAVE_READLINE
    t->rl = t->tty && isatty(STDOUT_FILENO) == 1; /* as Python: prompts into a pipe stay plain */
    if (t->rl)
        rl_setup(t);
#endif
    g_session = s;
    g_phase = PHASE_PROMPT;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: Ctrl-C must wake poll() and read() */
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &t->old_int);
    sa.sa_handler = on_sigwinch;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, &t->old_winch);
    return t;
}

void bs_term_close(bs_term *t)
{
    if (!t)
        return;
#ifdef BS_HAVE_READLINE
    if (t->rl) {
        rl_callback_handler_remove();
        if (t->history_file)
            history_truncate_file(t->hist_path, BS_TERM_HISTORY_MAX);
        cands_clear();
        free(g_cands.v);
        g_cands.v = NULL;
        g_cands.cap = 0;
    }
#endif
    sigaction(SIGINT, &t->old_int, NULL);
    sigaction(SIGWINCH, &t->old_winch, NULL);
    g_session = NULL;
    free(t->pending.s);
    free(t);
}

bs_term_status bs_term_read_line(bs_term *t, const char *prompt, char **line)
{
    *line = NULL;
    fflush(stdout);
#ifdef BS_HAVE_READLINE
    if (t->rl)
        return rl_read(t, prompt, line);
#endif
    return plain_read(t, prompt, line);
}

void bs_term_history_add(bs_term *t, const char *line)
{
#ifdef BS_HAVE_READLINE
    if (!t->rl || is_blank(line) || strlen(line) > BS_TERM_HISTORY_LINE_MAX)
        return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, line) == 0)
        return;
    add_history(line);
    if (t->history_file)
        append_history(1, t->hist_path);
#else
    (void)t;
    (void)line;
#endif
}

int bs_term_eval(bs_term *t, const char *src)
{
    bs_error e;
    memset(&e, 0, sizeof e);
    g_eval_sigints = 0;
    g_phase = PHASE_EVAL;
    int r = bs_session_eval(t->s, src, 1, &e);
    g_phase = PHASE_PROMPT;
    g_sigint = 0;
    if (g_eval_sigints && t->tty)
        fputc('\n', stdout); /* the terminal echoed ^C where the cursor was */
    fflush(stdout);
    if (r < 0)
        bs_term_print_caret(stdout, src, 1, &e);
    return r;
}

int bs_term_repl(bs_term *t)
{
    strbuf *buf = &t->pending;
    for (;;) {
        char *line = NULL;
        bs_term_status st = bs_term_read_line(t, buf->len ? BS_TERM_PS2 : BS_TERM_PS1, &line);
        if (st == BS_TERM_EOF)
            break;
        if (st == BS_TERM_CANCEL) {
            sb_clear(buf);
            continue;
        }
        bs_term_history_add(t, line);
        if (buf->len == 0 && is_blank(line)) {
            free(line);
            /* Enter while stepping the backward pass advances one node. */
            if (bs_session_stepping(t->s) && bs_term_eval(t, ":next") == 1)
                break;
            continue;
        }
        /* piped input (not a terminal) has no blank line a person would type to close a block:
           a compound statement ends at the next line that is not indented, as a script's does */
        if (!t->tty && buf->len && line[0] && line[0] != ' ' && line[0] != '\t' && line[0] != '#' &&
            !is_blank(line) && bs_session_block_open(buf->s) && !bs_session_unclosed(buf->s) &&
            !bs_session_continues_block(line) && !bs_session_pending_decorator(buf->s)) {
            int r = bs_term_eval(t, buf->s);
            sb_clear(buf);
            if (r == 1) {
                free(line);
                break;
            }
        }
        bool ok = sb_add_line(buf, line);
        free(line);
        if (!ok) {
            fputs("error: out of memory\n", stdout);
            sb_clear(buf);
            continue;
        }
        if (bs_session_incomplete(buf->s))
            continue;
        int r = bs_term_eval(t, buf->s);
        sb_clear(buf);
        if (r == 1)
            break;
    }
    /* input ended inside a statement (an unclosed bracket): say what is missing, as a script
       would, and on a pipe end with status 1: nothing is dropped without a word */
    int rc = 0;
    if (buf->len && !is_blank(buf->s) && bs_term_eval(t, buf->s) < 0 && !t->tty) rc = 1;
    sb_clear(buf);
    return rc;
}
