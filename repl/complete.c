/* repl/complete.c: Tab completion for the terminal layer (term.c, and the fuzzer): the word at
 * the end of a line completes to a name, a function, a command, or an attribute after '.'. Each
 * candidate is handed to add() while it is valid: the caller copies what it keeps. */
#include <stdio.h>
#include <string.h>

#include "repl_int.h"

typedef struct {
    const char *word;
    size_t len;
    void (*add)(void *, const char *);
    void *ud;
} comp;

static void comp_builtin(void *ud, const char *name, bool is_func)
{
    comp *c = ud;
    if (strncmp(name, c->word, c->len)) return;
    if (is_func) {
        char t[96];
        snprintf(t, sizeof t, "%s(", name);
        c->add(c->ud, t);
    } else {
        c->add(c->ud, name);
    }
}

void bs_session_complete(bs_session *s, const char *line, const char *word,
                         void (*add)(void *ud, const char *cand), void *ud)
{
    size_t wl = strlen(word);
    size_t ll = strlen(line);
    /* where the word starts inside line (line ends with word) */
    const char *wstart = ll >= wl ? line + ll - wl : line;
    /* skip leading blanks of the line */
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    comp c = {word, wl, add, ud};
    if (*p == ':' && (wstart == p || wstart == p + 1) && !strchr(p, ' ')) {
        /* a command name */
        const char *w = *word == ':' ? word + 1 : word;
        size_t n = strlen(w);
        for (const char *const *cmd = bs_command_names(); *cmd; cmd++)
            if (!strncmp(*cmd, w, n)) {
                char t[96];
                snprintf(t, sizeof t, "%s%s", *word == ':' ? ":" : "", *cmd);
                add(ud, t);
            }
        return;
    }
    const char *dot = strrchr(word, '.');
    if (dot || (wstart > line && wstart[-1] == '.')) {
        /* attributes after '.': the word may include "x." or just the part after the dot */
        const char *after = dot ? dot + 1 : word;
        size_t pre = dot ? (size_t)(dot - word + 1) : 0;
        size_t n = strlen(after);
        for (const char *const *a = bs_tensor_attrs(); *a; a++)
            if (!strncmp(*a, after, n)) {
                char t[256];
                snprintf(t, sizeof t, "%.*s%s", (int)pre, word, *a);
                add(ud, t);
            }
        return;
    }
    for (int i = 0; i < s->cap; i++)
        if (s->names[i].name && !strncmp(s->names[i].name, word, wl)) add(ud, s->names[i].name);
    if (*p == ':') {
        /* a command's argument (":help sigm"): names of functions, without the '(' */
        for (int i = 0; i < BS_OP_COUNT; i++)
            if (!strncmp(bs_ops[i].name, word, wl)) add(ud, bs_ops[i].name);
        return;
    }
    bs_builtins_each(comp_builtin, &c);
    const char *kw[] = {"True", "False", "None", "with no_grad:", NULL};
    for (int i = 0; kw[i]; i++)
        if (!strncmp(kw[i], word, wl)) add(ud, kw[i]);
}
