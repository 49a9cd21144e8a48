/* tests/fuzz/fuzz_history.c: libFuzzer target for the history loader (repl/term.c with GNU
 * Readline): each input is written as the history file ($XDG_STATE_HOME/backstep/history, in a
 * private folder), then a terminal is opened the way the interactive REPL opens one, which loads
 * and trims the file; a typed line is added (compared with the last entry loaded, appended to the
 * file), every entry is read back, and the terminal is closed (the file trimmed again).
 *
 * bs_term_open() reads the history only when standard input and output are terminals, so the
 * process's stdin and stdout are the slave side of a pseudo-terminal made here (the master is
 * drained after every input). Readline's in-memory history is cleared between inputs. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <pty.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <sys/stat.h>

#include "term.h"

#define MAX_LEN 65536

static int g_master = -1;
static bs_session *g_s;
static char g_hist[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = fuzz_tmpdir();
    setenv("XDG_STATE_HOME", tmp, 1);
    unsetenv("INPUTRC");
    setenv("HOME", tmp, 1); /* no ~/.inputrc */
    setenv("TERM", "dumb", 1);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/backstep", tmp);
    mkdir(dir, 0700);
    snprintf(g_hist, sizeof g_hist, "%s/history", dir);
    int slave = -1;
    if (openpty(&g_master, &slave, NULL, NULL, NULL) != 0) {
        perror("openpty");
        abort();
    }
    fcntl(g_master, F_SETFL, fcntl(g_master, F_GETFL) | O_NONBLOCK);
    fflush(stdout);
    if (dup2(slave, STDIN_FILENO) < 0 || dup2(slave, STDOUT_FILENO) < 0)
        abort();
    close(slave);
    bs_session_opts o = {.window = false, .interactive = true};
    bs_repl_init();
    g_s = bs_session_new(&o, fuzz_devnull(), fuzz_devnull());
    if (!g_s)
        abort();
    return 0;
}

static void drain(void)
{
    char buf[4096];
    while (read(g_master, buf, sizeof buf) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_LEN)
        return -1;
    fuzz_write_file(g_hist, data, size);
    bs_term *t = bs_term_open(g_s);
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(bs_term_is_tty(t));
    int n = history_length;
    FUZZ_CHECK(n >= 0 && n <= BS_TERM_HISTORY_MAX);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        HIST_ENTRY *h = history_get(history_base + i);
        FUZZ_CHECK(h != NULL && h->line != NULL);
        total += strlen(h->line);
    }
    FUZZ_CHECK(total <= size);
    bs_term_history_add(t, "x = 1");
    bs_term_history_add(t, "x = 1"); /* a repeat of the last entry is not added again */
    FUZZ_CHECK(history_length <= n + 1);
    bs_term_close(t);
    clear_history();
    drain();
    return 0;
}
