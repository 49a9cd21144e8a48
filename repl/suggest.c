/* repl/suggest.c: "Did you mean: 'sigmoid'?" for a name or an attribute that does not exist.
 *
 * The candidates are what the learner could have meant: the session's names, the functions
 * (builtins and every op of the table), and for an attribute the tensor's attributes and methods
 * (the completion list). The closest by edit distance (insertions, deletions, substitutions and
 * swaps of two neighbours each cost 1) wins when it is close enough for its length: one edit
 * for names up to 4 characters, two up to 8, three beyond, as CPython's suggestions roughly do.
 * The text follows CPython 3.12: "name 'sigmod' is not defined. Did you mean: 'sigmoid'?" */
#include <string.h>

#include "repl_int.h"

#define MAXLEN 40

typedef struct {
    const char *word;
    size_t len;
    char best[MAXLEN + 1];
    int dist;
} suggest;

/* optimal string alignment distance, or MAXLEN when either word is too long to matter */
static int distance(const char *a, size_t la, const char *b, size_t lb)
{
    if (la > MAXLEN || lb > MAXLEN) return MAXLEN;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static void consider(void *ud, const char *cand)
{
    suggest *g = ud;
    size_t n = strcspn(cand, "(");  /* completion entries carry "(" for methods */
    if (!n || n > MAXLEN || (n == g->len && !strncmp(cand, g->word, n))) return;
    int d = distance(g->word, g->len, cand, n);
    if (d < g->dist) {
        g->dist = d;
        memcpy(g->best, cand, n);
        g->best[n] = 0;
    }
}

static void consider_fn(void *ud, const char *name, bool is_func)
{
    (void)is_func;
    consider(ud, name);
}

static const char *finish(suggest *g, char *buf, size_t len)
{
    int limit = g->len <= 4 ? 1 : g->len <= 8 ? 2 : 3;
    if (g->dist > limit) return "";
    snprintf(buf, len, ". Did you mean: '%s'?", g->best);
    return buf;
}

const char *bs_suggest_name(bs_session *s, const char *word, char *buf, size_t len)
{
    const char *mods[][2] = {{"torch", "torch"}, {"F", "torch.nn.functional as F"}, {"nn", "torch.nn as nn"}};
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (!strcmp(word, mods[i][0])) {
            snprintf(buf, len, ". Did you forget to import '%s'? (import %s)", word, mods[i][1]);
            return buf;
        }
    /* PyTorch's spelling of a name that lives in a module: mse_loss is F.mse_loss */
    const char *home = bs_module_home(word);
    if (home) {
        snprintf(buf, len, ". Did you mean: '%s.%s'?", home, word);
        return buf;
    }
    suggest g = {word, strlen(word), "", MAXLEN + 1};
    for (int i = 0; i < s->cap; i++)
        if (s->names[i].name) consider(&g, s->names[i].name);
    bs_builtins_each(consider_fn, &g);
    return finish(&g, buf, len);
}

const char *bs_suggest_among(const char *word, const char *const *cands, int n, char *buf, size_t len)
{
    suggest g = {word, strlen(word), "", MAXLEN + 1};
    for (int i = 0; i < n; i++) consider(&g, cands[i]);
    return finish(&g, buf, len);
}

const char *bs_suggest_attr(const char *word, char *buf, size_t len)
{
    suggest g = {word, strlen(word), "", MAXLEN + 1};
    for (const char *const *a = bs_tensor_attrs(); *a; a++) consider(&g, *a);
    return finish(&g, buf, len);
}

/* an optimizer's attributes and methods */
static const char *const opt_names[] = {"zero_grad", "step", "lr", "param_groups"};

bool bs_opt_method(const char *word)
{
    return !strcmp(word, "zero_grad") || !strcmp(word, "step");
}

/* a method obj does not have: the closest of its kind's (a tensor's, an optimizer's), and the
   slips too far for the distance: a grad's zero_grad() is its zero_() (torch's in-place spelling,
   x.grad.zero_()), an optimizer's zero() or zero_() its zero_grad() */
const char *bs_suggest_method(const bs_value *obj, const char *word, char *buf, size_t len)
{
    if (obj->k == BS_V_OPT) {
        size_t n = strlen(word);
        if (n >= 4 && !strncmp(word, "zero_grad", n)) {
            snprintf(buf, len, ". Did you mean: 'zero_grad'?");
            return buf;
        }
        return bs_suggest_among(word, opt_names, (int)(sizeof opt_names / sizeof opt_names[0]), buf, len);
    }
    if (obj->k == BS_V_TMP && !strcmp(word, "zero_grad")) {
        snprintf(buf, len, ". Did you mean: 'zero_'?");
        return buf;
    }
    if (obj->k == BS_V_NODE || obj->k == BS_V_TMP) return bs_suggest_attr(word, buf, len);
    return "";
}
