/* repl/cmdtab.c: the command table. Each tool above the interpreter (commands.c, stepper.c,
 * viewer.c, run.c, lesson.c) has a set of commands and hooks; session.c registers them, and the
 * interpreter reaches a tool only through here: a `:cmd` statement is dispatched by name, and a
 * statement's end, a reset, a compaction and the session's end call each set's hooks. */
#include <string.h>

#include "repl_int.h"

#define MAX_SETS 16

static const bs_command_set *sets[MAX_SETS];
static int nsets;

void bs_commands_register(const bs_command_set *set)
{
    for (int i = 0; i < nsets; i++)
        if (sets[i] == set) return;
    if (nsets < MAX_SETS) sets[nsets++] = set;
}

int bs_command_set_count(void) { return nsets; }

const bs_command_set *bs_command_set_at(int i) { return i >= 0 && i < nsets ? sets[i] : NULL; }

const bs_command *bs_command_find(const char *name, bool prefix)
{
    for (int i = 0; i < nsets; i++)
        for (const bs_command *c = sets[i]->cmds; c->name; c++)
            if (!strcmp(c->name, name)) return c;
    if (!prefix) return NULL;
    const bs_command *hit = NULL;
    int n = 0;
    size_t len = strlen(name);
    for (int i = 0; i < nsets; i++)
        for (const bs_command *c = sets[i]->cmds; c->name; c++)
            if (!strncmp(c->name, name, len)) {
                hit = c;
                n++;
            }
    return n == 1 ? hit : NULL;
}

const char *const *bs_command_names(void)
{
    static const char *names[96];
    static int made_for = -1;
    if (made_for != nsets) {
        int n = 0;
        for (int i = 0; i < nsets; i++)
            for (const bs_command *c = sets[i]->cmds; c->name && n < 95; c++) names[n++] = c->name;
        names[n] = NULL;
        made_for = nsets;
    }
    return names;
}

int bs_run_command(bs_session *s, const bs_stmt *st)
{
    const bs_command *c = bs_command_find(st->cmd.name, true);
    if (!c) return bs_fail(s, st->line, st->col, "unknown command ':%s' (:help lists them)", st->cmd.name);
    return c->fn(s, st);
}

void bs_commands_after_statement(bs_session *s)
{
    for (int i = 0; i < nsets; i++)
        if (sets[i]->after_statement) sets[i]->after_statement(s);
}

void bs_commands_session_reset(bs_session *s)
{
    for (int i = 0; i < nsets; i++)
        if (sets[i]->session_reset) sets[i]->session_reset(s);
}

void bs_commands_session_free(bs_session *s)
{
    for (int i = 0; i < nsets; i++)
        if (sets[i]->session_free) sets[i]->session_free(s);
}

int bs_commands_keep_ids(bs_session *s, bs_id **out, int max)
{
    int n = 0;
    for (int i = 0; i < nsets; i++)
        if (sets[i]->keep_ids) n += sets[i]->keep_ids(s, out + n, max - n);
    return n;
}

/* ==== Arguments ==== */

bool bs_cmd_flag(const bs_stmt *st, const char *flag)
{
    for (int i = 0; i < st->cmd.argc; i++)
        if (!strcmp(st->cmd.argv[i].text, flag)) return true;
    return false;
}

const bs_word *bs_cmd_positional(const bs_stmt *st, int k)
{
    for (int i = 0; i < st->cmd.argc; i++) {
        if (!strncmp(st->cmd.argv[i].text, "--", 2)) continue;
        if (k-- == 0) return &st->cmd.argv[i];
    }
    return NULL;
}

int bs_cmd_usage(bs_session *s, const bs_stmt *st, const char *u)
{
    return bs_fail(s, st->line, st->col, "usage: %s", u);
}

int bs_cmd_node(bs_session *s, const bs_stmt *st, const char *arg, bs_id *out)
{
    if (!arg) {
        if (s->last_scalar != BS_NONE) {
            *out = s->last_scalar;
            return 0;
        }
        return bs_fail(s, st->line, st->col,
                       ":%s needs a name: no scalar that requires grad has been assigned yet",
                       st->cmd.name);
    }
    int line = st->cmd.args_line, col = st->cmd.args_col;
    for (int i = 0; i < st->cmd.argc; i++)
        if (!strcmp(st->cmd.argv[i].text, arg)) {
            line = st->cmd.argv[i].line;
            col = st->cmd.argv[i].col;
        }
    return bs_lookup_node(s, arg, line, col, out);
}
