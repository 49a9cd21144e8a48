/* core/txn.c: a statement's undo journal (bs_txn_begin / commit / rollback).
 *
 * A statement that fails must leave no trace: not its nodes, not its random draws, and not the
 * effect of a backward() or an optimizer step it ran before it failed. Copying the whole session
 * before every statement would make each one cost what the session holds, so the journal is lazy:
 * the first time a statement is about to change a node that existed before it (a grad, a freed
 * flag, a version, a param's value), bs__txn_node saves that node's state once; before an
 * optimizer changes a param's state, bs__txn_opt saves that state once and the optimizer's step
 * count. A compact node (bs__hot) the scalar pass steps saves its two flags and grad
 * (bs__txn_hot_node), 16 bytes, and stays compact. Rollback puts back what was saved, drops the nodes made since begin, restores the random
 * generator and the size variables, and frees optimizers made since. A statement costs what it
 * touches. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* a journal array `arr` of n items with room for one more (grown if needed), or NULL (and
   t->lost) when out of memory; the caller stores the result back */
static void *room(bs__txn *t, void *arr, int n, int *cap, size_t elem, int first)
{
    if (n < *cap) return arr;
    int nc = *cap ? 2 * *cap : first;
    void *p = realloc(arr, (size_t)nc * elem);
    if (!p) {
        t->lost = true;
        return NULL;
    }
    bs__prefault((char *)p + (size_t)n * elem, (size_t)(nc - n) * elem); /* it fills up as a rule */
    *cap = nc;
    return p;
}

static double *copy_of(const double *p, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (d && n > 0) memcpy(d, p, (size_t)n * sizeof(double));
    return d;
}

bool bs_txn_begin(bs_ctx *c)
{
    bs__txn *t = &c->txn;
    if (t->on || c->live) return false; /* nested, or inside a stepped pass (it has its own undo) */
    t->on = true;
    t->lost = false;
    if (++t->serial == 0) t->serial = 1; /* 0 means "never touched" on a node */
    t->mark = c->len;
    t->ndim = c->ndim;
    t->opts = c->opts;
    bs_ctx_rng_save(c, &t->rng);
    return true;
}

void bs__txn_node(bs_ctx *c, bs_node *n)
{
    bs__txn *t = &c->txn;
    if (!t->on || n->id >= t->mark || BK(n)->txn == t->serial) return;
    BK(n)->txn = t->serial;
    void *n_ = room(t, t->n, t->nn, &t->capn, sizeof *t->n, 64);
    if (!n_) return;
    t->n = n_;
    bs__txn_saved *e = &t->n[t->nn];
    int64_t numel = bs_shape_numel(&n->value.shape);
    memset(e, 0, sizeof *e);
    e->id = n->id;
    e->version = n->version;
    e->freed = BK(n)->freed;
    e->dtype = n->value.dtype;
    e->had_grad = n->grad.data != NULL;
    if (e->had_grad && !(e->grad = copy_of(n->grad.data, numel))) t->lost = true;
    if ((n->is_param || n->is_leaf) && !(e->value = copy_of(n->value.data, numel))) t->lost = true;
    t->nn++;
}

bool bs__txn_hot_grow(bs_ctx *c)
{
    bs__txn *t = &c->txn;
    void *h_ = room(t, t->h, t->nh, &t->caph, sizeof *t->h, 256);
    if (!h_) return false;
    t->h = h_;
    return true;
}

void bs__txn_opt(bs_ctx *c, bs_opt *o, bs_id id, int64_t numel)
{
    bs__txn *t = &c->txn;
    if (!t->on) return;
    for (int i = 0; i < t->nsteps; i++)
        if (t->steps[i].opt == o) goto have_step;
    void *steps_ = room(t, t->steps, t->nsteps, &t->capsteps, sizeof *t->steps, 4);
    if (!steps_) return;
    t->steps = steps_;
    t->steps[t->nsteps++] = (bs__txn_step){o, o->step};
have_step:
    if (id < 0 || id >= t->mark) return;
    for (int i = t->nst - 1; i >= 0; i--) /* a param is stepped once per statement, as a rule */
        if (t->st[i].opt == o && t->st[i].id == id) return;
    void *st_ = room(t, t->st, t->nst, &t->capst, sizeof *t->st, 16);
    if (!st_) return;
    t->st = st_;
    bs__txn_state *e = &t->st[t->nst++];
    e->opt = o;
    e->id = id;
    e->m = e->v = NULL;
    e->had_m = id < o->cap && o->m[id];
    e->had_v = id < o->cap && o->v[id];
    if (e->had_m && !(e->m = copy_of(o->m[id], numel + 1))) t->lost = true;
    if (e->had_v && !(e->v = copy_of(o->v[id], numel))) t->lost = true;
}

static void txn_clear(bs__txn *t)
{
    for (int i = 0; i < t->nn; i++) {
        free(t->n[i].grad);
        free(t->n[i].value);
    }
    for (int i = 0; i < t->nst; i++) {
        free(t->st[i].m);
        free(t->st[i].v);
    }
    t->nn = t->nst = t->nsteps = t->nh = 0;
    t->on = false;
}

void bs_txn_commit(bs_ctx *c)
{
    if (c->txn.on) txn_clear(&c->txn);
}

bool bs_txn_rollback(bs_ctx *c)
{
    bs__txn *t = &c->txn;
    if (!t->on) return true;
    bool whole = !t->lost;
    t->on = false; /* what follows must not journal itself */
    bs_tape_truncate(c, t->mark);
    for (int i = t->nn - 1; i >= 0; i--) {
        bs__txn_saved *e = &t->n[i];
        bs_node *n = bs__node(c, e->id);
        int64_t numel = bs_shape_numel(&n->value.shape);
        n->version = e->version;
        BK(n)->freed = e->freed;
        n->value.dtype = n->grad.dtype = e->dtype;
        if (e->value) memcpy(n->value.data, e->value, (size_t)numel * sizeof(double));
        if (!e->had_grad) {
            bs_zero_grad(c, e->id);
        } else if (e->grad) {
            if (!n->grad.data) {
                n->grad.data = bs__data_alloc(c, numel, &n->sgrad);
                n->grad.shape = n->value.shape;
                n->grad.dtype = n->value.dtype;
            }
            if (n->grad.data) memcpy(n->grad.data, e->grad, (size_t)numel * sizeof(double));
            else whole = false;
        }
    }
    /* compact nodes: after the full ones, latest first, so that each ends as it was at begin (a
       node filled in after its step has its journal entry, if any, from after that step) */
    for (int i = t->nh - 1; i >= 0; i--) {
        const bs__txn_hot *e = &t->h[i];
        if (!bs__is_full(c, e->id)) {
            bs__hot *h = &c->hot[e->id];
            h->f = (uint8_t)((h->f & ~(BS_H_GRAD | BS_H_FREED)) | e->f);
            h->grad = e->grad;
            continue;
        }
        bs_node *n = &bs__rec_at(c, e->id)->n; /* 0-d f64: its grad inline */
        BK(n)->freed = e->f & BS_H_FREED;
        n->sgrad = e->grad;
        n->grad.data = (e->f & BS_H_GRAD) ? &n->sgrad : NULL;
    }
    for (int i = t->nst - 1; i >= 0; i--) {
        bs__txn_state *e = &t->st[i];
        bs_opt *o = e->opt;
        if (e->id >= o->cap) continue;
        free(o->m[e->id]);
        free(o->v[e->id]);
        o->m[e->id] = e->had_m ? e->m : NULL;
        o->v[e->id] = e->had_v ? e->v : NULL;
        e->m = e->v = NULL; /* handed back */
    }
    for (int i = 0; i < t->nsteps; i++) t->steps[i].opt->step = t->steps[i].step;
    /* optimizers made by the statement: they are at the head of the list */
    while (c->opts && c->opts != t->opts) {
        bs_opt *o = c->opts;
        c->opts = o->next;
        bs__opt_free(o);
    }
    c->ndim = t->ndim;
    bs_ctx_rng_restore(c, &t->rng);
    t->on = true;
    txn_clear(t);
    return whole;
}

void bs__txn_reset(bs_ctx *c)
{
    bs__txn *t = &c->txn;
    if (!t->on) return;
    txn_clear(t);
    t->on = true;
    t->mark = 0;
    t->ndim = 0;
    t->opts = NULL;
}

void bs__txn_free(bs_ctx *c)
{
    bs__txn *t = &c->txn;
    txn_clear(t);
    free(t->n);
    free(t->st);
    free(t->steps);
    free(t->h);
    memset(t, 0, sizeof *t);
}
