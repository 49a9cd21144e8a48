/* viz/group.c: which group each tape node of a view belongs to (module and function calls from
 * the tape's scopes, a named statement's unnamed steps, leaves with what uses them), and which
 * groups are collapsed; see bs_view_opts in viz.h. The view (view.c) turns them into boxes. */
#include "viz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== A string table: name -> index ==== */


static uint64_t str_hash(const char *s)
{
    return viz_hash(VIZ_HASH0, s, strlen(s));
}

static bool stab_grow(stab *t)
{
    int cap = t->cap ? t->cap * 2 : 64;
    char **k = calloc((size_t)cap, sizeof *k);
    int *v = calloc((size_t)cap, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    for (int i = 0; i < t->cap; i++)
        if (t->key[i]) {
            size_t h = (size_t)(str_hash(t->key[i]) & (uint64_t)(cap - 1));
            while (k[h])
                h = (h + 1) & (size_t)(cap - 1);
            k[h] = t->key[i];
            v[h] = t->val[i];
        }
    free(t->key);
    free(t->val);
    t->key = k;
    t->val = v;
    t->cap = cap;
    return true;
}

/* the value of key, or -1 */
static int stab_get(const stab *t, const char *key)
{
    if (!t->cap)
        return -1;
    size_t h = (size_t)(str_hash(key) & (uint64_t)(t->cap - 1));
    while (t->key[h]) {
        if (!strcmp(t->key[h], key))
            return t->val[h];
        h = (h + 1) & (size_t)(t->cap - 1);
    }
    return -1;
}

static bool stab_put(stab *t, const char *key, int val)
{
    if ((t->n + 1) * 2 > t->cap && !stab_grow(t))
        return false;
    size_t h = (size_t)(str_hash(key) & (uint64_t)(t->cap - 1));
    while (t->key[h]) {
        if (!strcmp(t->key[h], key)) {
            t->val[h] = val;
            return true;
        }
        h = (h + 1) & (size_t)(t->cap - 1);
    }
    t->key[h] = strdup(key);
    if (!t->key[h])
        return false;
    t->val[h] = val;
    t->n++;
    return true;
}

static void stab_free(stab *t)
{
    for (int i = 0; i < t->cap; i++)
        free(t->key[i]);
    free(t->key);
    free(t->val);
    memset(t, 0, sizeof *t);
}

/* ==== Groups ==== */

static bool listed(const char *const *names, int n, const char *name, const char *alt)
{
    for (int i = 0; i < n; i++)
        if (names[i] && (!strcmp(names[i], name) || (alt && *alt && !strcmp(names[i], alt))))
            return true;
    return false;
}

/* "fc1 (Linear)" -> "fc1"; "neuron()" -> "neuron" (what a user may type for the group) */
static void short_name(const char *name, char *buf, size_t len)
{
    size_t k = strcspn(name, " (");
    if (k >= len)
        k = len - 1;
    memcpy(buf, name, k);
    buf[k] = 0;
}

static bool is_open(const viz_groups *G, const char *name)
{
    char alt[96];
    short_name(name, alt, sizeof alt);
    if (listed(G->o->expand, G->o->nexpand, name, alt))
        return true;
    if (listed(G->o->fold, G->o->nfold, name, alt))
        return false;
    return !G->big;
}

static int new_group(viz_groups *G, int kind, const char *name, const char *title)
{
    if (G->ng == G->capg) {
        int cap = G->capg ? G->capg * 2 : 64;
        viz_group *p = realloc(G->g, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        G->g = p;
        G->capg = cap;
    }
    viz_group *g = &G->g[G->ng];
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->name = strdup(name);
    g->title = strdup(title ? title : name);
    g->last = g->anchor = BS_NONE;
    g->cluster = g->home = -1;
    g->consumer = -1;
    if (!g->name || !g->title) {
        free(g->name);
        free(g->title);
        return -1;
    }
    return G->ng++;
}

static int new_cluster(viz_groups *G, const char *name, int parent)
{
    if (G->ncl == G->capcl) {
        int cap = G->capcl ? G->capcl * 2 : 16;
        viz_cluster *p = realloc(G->cl, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        G->cl = p;
        G->capcl = cap;
    }
    viz_cluster *k = &G->cl[G->ncl];
    k->name = strdup(name);
    k->parent = parent;
    k->calls = 0;
    if (!k->name)
        return -1;
    return G->ncl++;
}

#define MAX_DEPTH 32

/* the group (or -1: drawn on its own) and the cluster of nodes made in scope s, memoised */
static bool scope_place(viz_groups *G, const bs_ctx *c, int32_t s)
{
    if (G->sdone[s])
        return true;
    int32_t chain[MAX_DEPTH];
    int k = 0;
    for (int32_t q = s; q > 0 && k < MAX_DEPTH; q = bs_scope_parent(c, q))
        chain[k++] = q;
    /* outermost first */
    for (int i = 0; i < k / 2; i++) {
        int32_t t = chain[i];
        chain[i] = chain[k - 1 - i];
        chain[k - 1 - i] = t;
    }
    char path[1024];
    size_t used = 0;
    path[0] = 0;
    int home = -1;
    for (int i = 0; i < k; i++) {
        const char *nm = bs_scope_name(c, chain[i]);
        if (!nm)
            nm = "?";
        int w = snprintf(path + used, sizeof path - used, "%s%s", used ? "/" : "", nm);
        if (w > 0)
            used = used + (size_t)w < sizeof path ? used + (size_t)w : sizeof path - 1;
        if (!is_open(G, nm)) {
            /* collapsed at this level: the group of every call of nm here */
            int g = stab_get(&G->gkeys, path);
            if (g < 0) {
                g = new_group(G, VG_SCOPE, nm, nm);
                if (g < 0 || !stab_put(&G->gkeys, path, g))
                    return false;
                G->g[g].home = home;
                G->g[g].collapsed = true; /* an open scope is a cluster, not a group */
            }
            if (!G->scounted[chain[i]]) {
                G->scounted[chain[i]] = 1;
                G->g[g].ncalls++;
            }
            G->sgid[s] = g;
            G->scl[s] = home;
            G->sdone[s] = 1;
            return true;
        }
        /* open: its members sit in a box */
        int cl = stab_get(&G->ckeys, path);
        if (cl < 0) {
            cl = new_cluster(G, nm, home);
            if (cl < 0 || !stab_put(&G->ckeys, path, cl))
                return false;
        }
        if (!G->scounted[chain[i]]) {
            G->scounted[chain[i]] = 1;
            G->cl[cl].calls++;
        }
        home = cl;
    }
    G->sgid[s] = -1;
    G->scl[s] = home;
    G->sdone[s] = 1;
    return true;
}

/* the scope whose attribute path ("model.fc1" for model (Net) / fc1 (Linear)) is p, or 0 */
static bool attr_paths(viz_groups *G, const bs_ctx *c)
{
    int32_t ns = bs_scope_count(c);
    for (int32_t s = 1; s <= ns; s++) {
        char path[512], part[96];
        int32_t chain[MAX_DEPTH];
        int k = 0;
        for (int32_t q = s; q > 0 && k < MAX_DEPTH; q = bs_scope_parent(c, q))
            chain[k++] = q;
        size_t used = 0;
        path[0] = 0;
        bool ok = true;
        for (int i = k - 1; i >= 0 && ok; i--) {
            const char *nm = bs_scope_name(c, chain[i]);
            if (!nm || !strstr(nm, " (")) { /* a function call: no attribute */
                ok = false;
                break;
            }
            short_name(nm, part, sizeof part);
            int w = snprintf(path + used, sizeof path - used, "%s%s", used ? "." : "", part);
            if (w > 0)
                used = used + (size_t)w < sizeof path ? used + (size_t)w : sizeof path - 1;
        }
        if (ok && used && stab_get(&G->attr, path) < 0 && !stab_put(&G->attr, path, s))
            return false;
    }
    return true;
}

static void label_of(const bs_node *nd, char *buf, size_t len)
{
    int primes = nd->rebound > 4 ? 4 : nd->rebound;
    snprintf(buf, len, "%s%.*s", nd->label, primes, "''''");
}

static bool is_const(const bs_node *nd)
{
    return nd->is_leaf && !nd->requires_grad && !nd->label && nd->init == BS_INIT_DATA &&
           nd->value.shape.ndim == 0;
}

bool viz_groups_build(viz_groups *G, const bs_ctx *c, const int *sel, int32_t nsel,
                      const bs_view_opts *o)
{
    int32_t n = bs_tape_len(c);
    int32_t ns = bs_scope_count(c);
    memset(G, 0, sizeof *G);
    G->o = o;
    G->n = n;
    G->unused = -1;
    G->big = o->collapse == BS_COLLAPSE_ALL ||
             (o->collapse == BS_COLLAPSE_AUTO && nsel > BS_VIEW_AUTO_NODES);
    size_t nn = (size_t)(n > 0 ? n : 1), nsc = (size_t)ns + 1;
    G->gid = malloc(nn * sizeof *G->gid);
    G->home = malloc(nn * sizeof *G->home);
    int32_t *fc = malloc(nn * sizeof *fc), *lc = malloc(nn * sizeof *lc);
    G->sgid = calloc(nsc, sizeof *G->sgid);
    G->scl = calloc(nsc, sizeof *G->scl);
    G->sdone = calloc(nsc, 1);
    G->scounted = calloc(nsc, 1);
    bool ok = G->gid && G->home && fc && lc && G->sgid && G->scl && G->sdone && G->scounted;
    if (!ok)
        goto done;
    /* the first consumer of each node among the selected (copies count: param(expr)) */
    for (int32_t i = 0; i < n; i++) {
        fc[i] = lc[i] = -1;
        G->gid[i] = -1;
        G->home[i] = -1;
    }
    for (int32_t i = 0; i < n; i++) {
        if (sel[i] < 0)
            continue;
        const bs_node *nd = bs_node_get(c, i);
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0 && nd->in[k] < n && sel[nd->in[k]] >= 0) {
                if (fc[nd->in[k]] < 0)
                    fc[nd->in[k]] = i;
                lc[nd->in[k]] = i;
            }
        if (nd->is_leaf && nd->init == BS_INIT_COPY && nd->init_src >= 0 && nd->init_src < n &&
            sel[nd->init_src] >= 0 && fc[nd->init_src] < 0)
            fc[nd->init_src] = i;
    }
    bool have_attr = false;
    stab leafg = {0}; /* "consumer key" -> leaves group */
    stab repeat = {0}; /* "home:text" -> the group of unnamed steps made by that text */
    char name[160], key[64];
    /* consumers come later on the tape: one sweep from the end places every node after what
       uses it */
    for (int32_t i = n - 1; i >= 0 && ok; i--) {
        if (sel[i] < 0)
            continue;
        const bs_node *nd = bs_node_get(c, i);
        int32_t f = fc[i];
        int gf = f >= 0 ? G->gid[f] : -1;
        if (is_const(nd) && f >= 0 && gf >= 0) {
            /* an unnamed number: with what uses it, also when that is a call made inside the
               call that made the number (a forward() whose inputs feed 16 neuron() calls: opening
               forward() shows the calls, not a column of 200 numbers) */
            G->gid[i] = gf;
            G->home[i] = G->home[f];
            continue;
        }
        if (nd->scope > 0 && nd->scope <= ns) {
            if (!(ok = scope_place(G, c, nd->scope)))
                break;
            G->gid[i] = G->sgid[nd->scope];
            G->home[i] = G->scl[nd->scope];
            continue;
        }
        if (is_const(nd) && f >= 0) { /* an unnamed number: with what uses it */
            G->gid[i] = gf;
            G->home[i] = G->home[f];
            continue;
        }
        if (f < 0 && !nd->label && nd->is_leaf && G->big) {
            /* unnamed leaves nothing uses (yet): one box */
            if (G->unused < 0) {
                G->unused = new_group(G, VG_LEAVES, "unused leaves", "unused leaves");
                if (G->unused < 0) {
                    ok = false;
                    break;
                }
                G->g[G->unused].collapsed = !listed(o->expand, o->nexpand, "unused leaves", NULL);
            }
            G->gid[i] = G->unused;
            continue;
        }
        if (is_const(nd))
            continue;
        /* a leaf whose name moved on (a loop variable: for p in params) is grouped as unnamed
           when collapsing */
        bool named = nd->label && !(G->big && nd->is_leaf && nd->rebound > 0);
        if (named) {
            label_of(nd, name, sizeof name);
            /* model.fc1.weight: with the call of model.fc1 */
            const char *dot = strrchr(nd->label, '.');
            if (nd->is_leaf && dot && ns > 0) {
                if (!have_attr && !(ok = attr_paths(G, c)))
                    break;
                have_attr = true;
                char prefix[160];
                size_t k = (size_t)(dot - nd->label) < sizeof prefix ? (size_t)(dot - nd->label)
                                                                    : sizeof prefix - 1;
                memcpy(prefix, nd->label, k);
                prefix[k] = 0;
                int s = stab_get(&G->attr, prefix);
                if (s > 0) {
                    if (!(ok = scope_place(G, c, s)))
                        break;
                    G->gid[i] = G->sgid[s];
                    G->home[i] = G->scl[s];
                    continue;
                }
            }
            bool ctor = nd->is_leaf && nd->init == BS_INIT_COPY;
            if (nd->is_leaf && !ctor) {
                /* a named leaf on its own, unless collapsing and one closed statement is all
                   that uses it (w3 = param(0.2); z3 = w3 * x: w3 goes inside z3's box) */
                int gl = lc[i] >= 0 ? G->gid[lc[i]] : -1;
                if (G->big && gf >= 0 && gf == gl && G->g[gf].kind == VG_CHAIN && G->g[gf].collapsed) {
                    G->gid[i] = gf;
                    G->home[i] = G->home[f];
                }
                continue;
            }
            /* a named statement (or a leaf with the chain that built it) */
            int g = new_group(G, VG_CHAIN, name, name);
            if (g < 0) {
                ok = false;
                break;
            }
            G->g[g].anchor = i;
            G->g[g].ctor = ctor;
            /* a leaf's constructor chain is folded into the leaf in every graph */
            G->g[g].collapsed = ctor ? !listed(o->expand, o->nexpand, name, NULL) : !is_open(G, name);
            G->gid[i] = g;
            continue;
        }
        if (!nd->is_leaf) {
            /* an unnamed step: with the statement that uses it */
            if (gf >= 0 && G->g[gf].kind == VG_CHAIN) {
                G->gid[i] = gf;
                G->home[i] = G->home[f];
                continue;
            }
            const char *sym = nd->op >= 0 && nd->op < BS_OP_COUNT ? bs_ops[nd->op].name : "op";
            if (nd->text && *nd->text && strlen(nd->text) < 48)
                snprintf(name, sizeof name, "%s", nd->text);
            else
                snprintf(name, sizeof name, "%s", sym);
            /* repeated structure: every unnamed step made by the same text at this level is
               one group ("lr * p.grad" of an update loop, 1,008 times) */
            int home = f >= 0 ? G->home[f] : -1;
            snprintf(key, sizeof key, "%d:", home);
            char rkey[224];
            snprintf(rkey, sizeof rkey, "%s%s", key, name);
            int g = G->big ? stab_get(&repeat, rkey) : -1;
            if (g < 0) {
                g = new_group(G, VG_CHAIN, name, name);
                if (g < 0 || (G->big && !stab_put(&repeat, rkey, g))) {
                    ok = false;
                    break;
                }
                G->g[g].anchor = i;
                G->g[g].collapsed = !is_open(G, name);
                G->g[g].home = home;
            }
            G->g[g].ncalls++;
            G->gid[i] = g;
            G->home[i] = G->g[g].home;
            continue;
        }
        /* an unnamed leaf (a list element, a constructor's tensor) */
        if (f < 0)
            continue;
        if (gf >= 0 && G->g[gf].ctor) {
            G->gid[i] = gf;
            continue;
        }
        snprintf(key, sizeof key, "%d:%d", gf >= 0 ? gf : -(f + 2), nd->requires_grad ? 1 : 0);
        int g = stab_get(&leafg, key);
        if (g < 0) {
            char cname[120];
            if (gf >= 0)
                snprintf(cname, sizeof cname, "%s", G->g[gf].name);
            else if (bs_node_get(c, f)->label)
                label_of(bs_node_get(c, f), cname, sizeof cname);
            else
                snprintf(cname, sizeof cname, "node %d", f);
            snprintf(name, sizeof name, "%s of %s", nd->requires_grad ? "params" : "inputs", cname);
            g = new_group(G, VG_LEAVES, name, name);
            if (g < 0 || !stab_put(&leafg, key, g)) {
                ok = false;
                break;
            }
            G->g[g].consumer = gf;
            G->g[g].param = nd->requires_grad;
            G->g[g].collapsed = gf >= 0 && G->g[gf].collapsed && !listed(o->expand, o->nexpand, name, NULL);
            G->g[g].home = -1; /* made at top level: outside any call's box */
        }
        G->gid[i] = g;
        G->home[i] = -1;
    }
    stab_free(&leafg);
    stab_free(&repeat);
    if (!ok)
        goto done;
    for (int32_t i = 0; i < n; i++) {
        int g = G->gid[i];
        if (sel[i] < 0 || g < 0)
            continue;
        viz_group *gr = &G->g[g];
        gr->nmem++;
        if (i > gr->last || gr->last == BS_NONE)
            gr->last = i;
        const bs_node *nd = bs_node_get(c, i);
        if (nd->is_leaf && nd->requires_grad)
            gr->nparams++;
    }
done:
    free(fc);
    free(lc);
    if (!ok)
        viz_groups_free(G);
    return ok;
}

bool viz_group_shown(const viz_groups *G, int32_t i)
{
    int g = G->gid ? G->gid[i] : -1;
    return g < 0 || !G->g[g].collapsed || G->g[g].nmem < 2;
}

void viz_groups_free(viz_groups *G)
{
    for (int g = 0; g < G->ng; g++) {
        free(G->g[g].name);
        free(G->g[g].title);
    }
    for (int k = 0; k < G->ncl; k++)
        free(G->cl[k].name);
    free(G->g);
    free(G->cl);
    free(G->gid);
    free(G->home);
    free(G->sgid);
    free(G->scl);
    free(G->sdone);
    free(G->scounted);
    stab_free(&G->gkeys);
    stab_free(&G->ckeys);
    stab_free(&G->attr);
    memset(G, 0, sizeof *G);
}
