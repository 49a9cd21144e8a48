/* tests/fuzz/fuzz_eval.c: libFuzzer target for the evaluator: every input is a script run in a
 * fresh session (repl/eval.c, builtins.c, commands.c, print.c, stepper.c, run.c and the engine
 * under them), the way `backstep script.bs` runs it.
 *
 * The sandbox
 *   - Inputs are at most MAX_LEN bytes, so that no single input can legitimately take seconds.
 *   - No window (opts.window is false and DISPLAY is unset); the session's memory limit is MEM_LIMIT.
 *   - Each input runs in the process's own temporary folder (HOME, XDG_STATE_HOME and the
 *     lesson folder point there too; stdin is /dev/null). Inputs whose commands would read or write outside it
 *     are not run: :load (it runs whatever file it names, itself included: a known recursion,
 *     being fixed elsewhere), :lesson (reads lessons and their progress), and :save, :export,
 *     :screenshot of a path with a '/' in it. What the others write is removed after the input.
 *   - A CPU-time timer (SIGVTALRM, not libFuzzer's SIGALRM) interrupts the session after
 *     INTERRUPT_MS, as Ctrl-C would: loops such as :train steps=10**9 stop with "interrupted".
 * A rejected input returns -1, so libFuzzer does not keep it in the corpus. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "repl_int.h"

#define MAX_LEN 4096
#define MEM_LIMIT ((size_t)16 << 20) /* bytes a session may hold */
#define INTERRUPT_MS 1000

static bs_session *volatile g_session;
static char g_work[4200]; /* the folder an input runs in (the process's own stays as it was, so
                             libFuzzer's relative paths keep working) */

static void on_vtalrm(int sig)
{
    (void)sig;
    if (g_session)
        bs_session_interrupt(g_session);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[4200];
    const char *tmp = fuzz_session_dirs(path, sizeof path);
    snprintf(path, sizeof path, "%s/work", tmp);
    mkdir(path, 0700);
    setenv("HOME", tmp, 1);
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("SDL_VIDEODRIVER");
    unsetenv("BACKSTEP_THEME");
    snprintf(g_work, sizeof g_work, "%s", path);
    FILE *in = freopen("/dev/null", "r", stdin);
    (void)in;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_vtalrm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGVTALRM, &sa, NULL);
    return 0;
}

/* The command a statement's name runs, resolved as commands.c does (a name, or a prefix that
 * names exactly one command); NULL when it names none. */
static const char *command_of(const char *name)
{
    const char *const *names = bs_command_names();
    const char *hit = NULL;
    int n = 0;
    size_t len = strlen(name);
    for (int i = 0; names[i]; i++) {
        if (!strcmp(names[i], name))
            return names[i];
        if (!strncmp(names[i], name, len)) {
            hit = names[i];
            n++;
        }
    }
    return n == 1 ? hit : NULL;
}

/* 0: the input may run; -1: not (see the sandbox above). *writes: it may create files. */
static int admissible(const char *src, bool *writes)
{
    bs_arena a = BS_ARENA_INIT;
    bs_parse_error pe;
    bs_ast *ast = bs_parse(src, 1, &a, &pe);
    int rc = ast ? 0 : -1;
    for (int i = 0; ast && i < ast->n && rc == 0; i++) {
        const bs_stmt *st = ast->stmts[i];
        if (st->kind != BS_ST_COMMAND)
            continue;
        const char *c = command_of(st->cmd.name);
        if (!c)
            continue;
        if (!strcmp(c, "load") || !strcmp(c, "lesson"))
            rc = -1;
        else if (!strcmp(c, "save") || !strcmp(c, "export") || !strcmp(c, "screenshot")) {
            *writes = true;
            if (strchr(st->cmd.args, '/'))
                rc = -1;
        }
    }
    bs_arena_free(&a);
    return rc;
}

static void drop_files(void)
{
    fuzz_rm_rf(g_work);
    mkdir(g_work, 0700);
}

static void complete_cb(void *ud, const char *cand)
{
    FUZZ_CHECK(cand != NULL);
    ++*(int *)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_LEN)
        return -1;
    char *src = fuzz_cstr(data, size);
    bool writes = false;
    if (admissible(src, &writes) < 0) {
        free(src);
        return -1;
    }
    int home = open(".", O_RDONLY | O_DIRECTORY);
    FUZZ_CHECK(home >= 0 && chdir(g_work) == 0);
    bs_session_opts o = {.quiet = (size & 1) != 0, .precision = 0, .window = false,
                         .interactive = (size & 2) != 0};
    bs_repl_init();
    bs_session *s = bs_session_new(&o, fuzz_devnull(), fuzz_devnull());
    FUZZ_CHECK(s != NULL);
    bs_ctx_set_mem_limit(bs_session_ctx(s), MEM_LIMIT);
    g_session = s;
    struct itimerval it = {{0, 0}, {INTERRUPT_MS / 1000, (INTERRUPT_MS % 1000) * 1000}};
    setitimer(ITIMER_VIRTUAL, &it, NULL);

    bs_error e;
    memset(&e, 0, sizeof e);
    int rc = bs_session_eval(s, src, 1, &e);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
    if (rc < 0) {
        FUZZ_CHECK(memchr(e.msg, '\0', sizeof e.msg) != NULL);
        FUZZ_CHECK(e.msg[0] != '\0');
    }
    /* what the prompt asks of a session between statements */
    (void)bs_session_stepping(s);
    (void)bs_session_incomplete(src);
    const char *line = strrchr(src, '\n');
    line = line ? line + 1 : src;
    const char *word = line + strlen(line);
    while (word > line && (word[-1] == '_' || (word[-1] >= 'a' && word[-1] <= 'z') ||
                           (word[-1] >= '0' && word[-1] <= '9')))
        word--;
    int ncand = 0;
    bs_session_complete(s, line, word, complete_cb, &ncand);

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    g_session = NULL;
    bs_session_free(s);
    free(src);
    FUZZ_CHECK(fchdir(home) == 0);
    close(home);
    if (writes)
        drop_files();
    return 0;
}
