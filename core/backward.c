/* core/backward.c: the one backward engine, as an iterator of step records; zero_grad and grad
 * snapshots. (Local-derivative formulas are rendered by core/formula.c.) */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "ew_scalar.h"

/* ==== The iterator ====
 * A pass walks the tape in reverse creation order (creation order is topological). begin() marks
 * every node the root depends on through requires-grad edges and checks the whole pass can run
 * (seed, freed graph, in-place modification) before any gradient changes. Each marked non-leaf
 * node is one step: its upstream gradient (gtmp) is final when it is reached, since every node that
 * uses it was created later and so was stepped before. A step adds each input's VJP into that
 * input's gtmp; non-leaf nodes add their gtmp into .grad when stepped, leaves at the end of the
 * pass (PyTorch sums a leaf's incoming gradients first, then accumulates once into .grad). */

typedef struct {
    double *p;
    int64_t cap;
} scratch;

struct bs_bwd {
    bs_ctx *c;
    bs_id root;
    uint32_t pass;
    bool retain, detail;
    int32_t cur;            /* the id below the last node stepped (root before the first; -1 at
                               the end): nodes above it have run */
    int32_t pos;            /* next entry of sched.step */
    int index, total;
    bool failed;
    bool eager;             /* no step records kept: each node is retired as it is stepped */
    bool sweep;             /* some node was not retired on the way: release() sweeps */
    bs__sched sched;        /* the pass's steps and leaves (the schedule replay plans use too) */
    int32_t ckpt;           /* the checkpoint whose forward ran again last (0: none) */
    scratch local[BS_MAX_INPUTS], vjp[BS_MAX_INPUTS], after[BS_MAX_INPUTS], ones;
};

/* ==== The schedule ====
 * One schedule serves the eager iterator and replay plans (core/plan.c): the steps of a pass are
 * the nodes with a grad_fn that the root reaches through requires-grad edges, in reverse creation
 * order (creation order is topological, so each node's upstream gradient is complete when it is
 * reached); the leaves it reaches are listed once each. The scan stops at the lowest such node
 * (lo), so a pass costs what its graph costs, not the length of the tape's history (a training
 * loop's old iterations); leaves below lo come from their list. mark: per node id, set to pass
 * when the node is on it (NULL: the nodes' own marks, which the live pass reads). check: refuse
 * a freed graph or an input modified in place (bs_backward), with PyTorch's messages. */
static bool sched_push(int32_t **v, int32_t *n, int32_t *cap, int32_t id)
{
    if (*n == *cap) {
        int32_t c = *cap ? 2 * *cap : 16;
        int32_t *p = realloc(*v, (size_t)c * sizeof *p);
        if (!p) return false;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = id;
    return true;
}

void bs__sched_free(bs__sched *s)
{
    free(s->step);
    free(s->leaf);
    memset(s, 0, sizeof *s);
}

static bool has_grad_fn(const bs_node *n) { return n->requires_grad && !n->is_leaf; }

/* The checks before a pass touches anything, with PyTorch's messages: node n (on the pass, its
 * freed flag set) still needs saved tensors; input k of n was changed in place since n was made
 * and n keeps it. Each returns true when it set the error. */
static bool freed_error(bs_ctx *c, const bs_node *n)
{
    bs_saved_tensor sv[BS_MAX_SAVED];
    if (!bs_node_saved(c, n->id, sv)) return false;
    char nb[64];
    bs__err(c, BS_ERR_STATE,
            "Trying to backward through the graph a second time (or directly access saved "
            "tensors after they have already been freed): %s (%s) was freed by an earlier "
            "backward(). Specify retain_graph=True if you need to backward through the "
            "graph a second time.",
            bs_node_name(c, n->id, nb, sizeof nb), bs_ops[n->op].grad_fn);
    return true;
}

static bool version_error(bs_ctx *c, const bs_node *n, int k)
{
    if (!bs__saves_input(c, n, k)) return false;
    char nb[64];
    const bs_node *x = bs__node(c, n->in[k]);
    bs__err(c, BS_ERR_STATE,
            "one of the variables needed for gradient computation has been modified "
            "by an inplace operation: %s is at version %u; expected version %u "
            "instead (an optimizer step changed it after this graph was built)",
            bs_node_name(c, n->in[k], nb, sizeof nb), x->version, BK(n)->in_version[k]);
    return true;
}

bs_status bs__sched_build(bs_ctx *c, bs_id root, uint32_t pass, uint32_t *mark, bool check,
                          bs__sched *s)
{
    memset(s, 0, sizeof *s);
    bs_node *r = bs_node_at(c, root);
    if (!r) return bs__err(c, BS_ERR_ARG, "backward: no such node");
#define MARK(i, nd) (*(mark ? &mark[i] : &BK(nd)->mark))
    MARK(root, r) = pass;
    s->lo = root;
    for (int32_t i = root; i >= s->lo; i--) {
        bs_node *n = bs__node(c, i);
        if (MARK(i, n) != pass || !has_grad_fn(n)) continue;
        if (!sched_push(&s->step, &s->nstep, &s->capstep, i)) goto nomem;
        if (check && BK(n)->freed && freed_error(c, n)) goto fail;
        for (int k = 0; k < n->nin; k++) {
            bs_node *x = bs__node(c, n->in[k]);
            if (check && x->version != BK(n)->in_version[k] && version_error(c, n, k)) goto fail;
            if (!x->requires_grad || MARK(n->in[k], x) == pass) continue;
            MARK(n->in[k], x) = pass;
            if (has_grad_fn(x)) {
                if (n->in[k] < s->lo) s->lo = n->in[k];
            } else if (!sched_push(&s->leaf, &s->nleaf, &s->capleaf, n->in[k])) {
                goto nomem;
            }
        }
    }
    if (!has_grad_fn(r) && r->requires_grad && !sched_push(&s->leaf, &s->nleaf, &s->capleaf, root))
        goto nomem;
#undef MARK
    return BS_OK;
nomem:
    bs__err(c, BS_ERR_NOMEM, "out of memory");
fail: /* the marks stay, harmless: a mark counts only while it equals the pass */
    bs__sched_free(s);
    return c->code;
}

static double *scratch_get(scratch *s, int64_t n)
{
    if (n < 1) n = 1;
    if (n > s->cap) {
        double *p = realloc(s->p, (size_t)n * sizeof(double));
        if (!p) return NULL;
        s->p = p;
        s->cap = n;
    }
    memset(s->p, 0, (size_t)n * sizeof(double));
    return s->p;
}

/* gtmp storage for node n: zeroed doubles */
static double *gtmp_alloc(bs_node *n)
{
    int64_t numel = bs_shape_numel(&n->value.shape);
    if (numel == 1) {
        PS(n)->sgtmp = 0;
        return &PS(n)->sgtmp;
    }
    return calloc((size_t)(numel ? numel : 1), sizeof(double));
}

static void gtmp_free(bs_node *n)
{
    if (PS(n)->gtmp && PS(n)->gtmp != &PS(n)->sgtmp) free(PS(n)->gtmp);
    PS(n)->gtmp = NULL;
}

/* grad += src (allocating grad as a copy when it is None) */
static bool grad_add(bs_ctx *c, bs_node *n, const double *src)
{
    bs__txn_node(c, n);
    int64_t numel = bs_shape_numel(&n->value.shape);
    if (!n->grad.data) {
        n->grad.data = bs__data_alloc(c, numel, &n->sgrad);
        if (!n->grad.data) return false;
        n->grad.shape = n->value.shape;
        n->grad.dtype = n->value.dtype;
        memcpy(n->grad.data, src, (size_t)numel * sizeof(double));
    } else {
        for (int64_t i = 0; i < numel; i++) n->grad.data[i] += src[i];
    }
    bs__round_tensor(&n->grad);
    return true;
}

bs_bwd *bs__backward_begin(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain, bool detail,
                           bool check_state)
{
    bs_node *r = bs_node_at(c, root);
    if (!r) {
        bs__err(c, BS_ERR_ARG, "backward: no such node");
        return NULL;
    }
    if (c->live) {
        bs__err(c, BS_ERR_STATE, "a backward pass is already being stepped (:finish or :abort it)");
        return NULL;
    }
    if (!r->requires_grad) {
        bs__err(c, BS_ERR_STATE,
                "element 0 of tensors does not require grad and does not have a grad_fn");
        return NULL;
    }
    int64_t numel = bs_shape_numel(&r->value.shape);
    if (!seed && numel != 1) {
        bs__err(c, BS_ERR_STATE,
                "grad can be implicitly created only for scalar outputs: this one has %lld "
                "elements, so pass a seed of its shape, as in y.backward(ones_like(y))",
                (long long)numel);
        return NULL;
    }
    if (seed && !bs_shape_eq(&seed->shape, &r->value.shape)) {
        char a[96], b[96];
        bs__err(c, BS_ERR_SHAPE,
                "Mismatch in shape: grad_output[0] has a shape of %s and output[0] has a shape of %s",
                bs_shape_str(&seed->shape, a, sizeof a), bs_shape_str(&r->value.shape, b, sizeof b));
        return NULL;
    }
    bs_bwd *b = calloc(1, sizeof *b);
    if (!b) {
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    b->c = c;
    b->root = root;
    b->retain = retain;
    b->detail = detail;
    b->pass = ++c->pass;
    b->eager = !detail;

    /* mark and check, touching nothing yet */
    if (bs__sched_build(c, root, b->pass, NULL, check_state, &b->sched)) goto fail;
    b->total = b->sched.nstep;
    /* the seed */
    PS(r)->gtmp = gtmp_alloc(r);
    if (!PS(r)->gtmp) {
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (seed)
        memcpy(PS(r)->gtmp, seed->data, (size_t)numel * sizeof(double));
    else
        PS(r)->gtmp[0] = 1;
    b->cur = root;
    c->live = b;
    return b;
fail:
    bs__sched_free(&b->sched);
    free(b);
    return NULL;
}

bs_bwd *bs_backward_begin(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain_graph,
                          bool want_detail)
{
    return bs__backward_begin(c, root, seed, retain_graph, want_detail, true);
}

bs_bwd *bs_backward_replay_begin(bs_ctx *c, bs_id root, const bs_tensor *seed)
{
    return bs__backward_begin(c, root, seed, true, true, false);
}

/* A VJP's result as torch hands it on: a tensor of the node's dtype (the float path rounds each
 * element to f16/bf16 there), cast to the input's dtype when that differs (autograd's
 * validate_outputs); accumulate_grad then adds it to what the input has in the input's dtype. */
static void vjp_round(bs_dtype node_dt, bs_dtype x_dt, double *v, int64_t n)
{
    if (node_dt == BS_F16 || node_dt == BS_BF16)
        for (int64_t j = 0; j < n; j++) v[j] = bs_dtype_round(node_dt, v[j]);
    if (x_dt != node_dt && x_dt != BS_F64 && x_dt != BS_I64)
        for (int64_t j = 0; j < n; j++) v[j] = bs_dtype_round(x_dt, v[j]);
}

/* the vjp of input k of node n given upstream g, accumulated into dst (zeroed or partial) */
static void run_vjp(bs_ctx *c, bs_node *n, const bs_tensor *in, const bs_tensor *g, int k,
                    double *dst)
{
    bs_tensor din = {n->value.dtype, in[k].shape, dst};
    bs_ops[n->op].vjp(in, &n->value, &n->attr, g, k, &din);
}

/* The fast path for an elementwise node whose inputs are 0-d too: the op's scalar VJP, inline
 * storage. Same arithmetic as the tensor path. Returns false when it does not apply. */
static bool scalar_step(bs_ctx *c, bs_node *n)
{
    bs_node *x = bs__node(c, n->in[0]);
    bs_node *y = n->nin == 2 ? bs__node(c, n->in[1]) : NULL;
    if (x->value.shape.ndim != 0 || (y && y->value.shape.ndim != 0)) return false;
    if (!PS(n)->gtmp) {
        PS(n)->sgtmp = 0;
        PS(n)->gtmp = &PS(n)->sgtmp;
    }
    double g = PS(n)->gtmp[0], a = x->value.data[0], bv = y ? y->value.data[0] : 0.0;
    const bs_op_info *info = &bs_ops[n->op];
    for (int k = 0; k < n->nin; k++) {
        bs_node *in = k ? y : x;
        if (!in->requires_grad || !info->deriv[k]) continue;
        double v = info->s_vjp(g, a, bv, n->value.data[0], n->attr.k, n->attr.k2, k);
        if (PS(in)->gtmp) {
            PS(in)->gtmp[0] += v;
        } else {
            PS(in)->sgtmp = 0 + v;
            PS(in)->gtmp = &PS(in)->sgtmp;
        }
        if (in->value.dtype != BS_F64) PS(in)->gtmp[0] = bs_dtype_round(in->value.dtype, PS(in)->gtmp[0]);
    }
    bs__txn_node(c, n);
    if (n->grad.data) {
        n->grad.data[0] += g;
        if (n->value.dtype != BS_F64) n->grad.data[0] = bs_dtype_round(n->value.dtype, n->grad.data[0]);
    } else {
        n->sgrad = g;
        n->grad.data = &n->sgrad;
        n->grad.shape = n->value.shape;
        n->grad.dtype = n->value.dtype;
    }
    return true;
}

/* eager passes: a stepped node's work is done; what release() would do for it, now */
static void retire(bs_bwd *b, bs_node *n)
{
    if (!b->retain) {
        bs__txn_node(b->c, n);
        BK(n)->freed = true;
    }
    gtmp_free(n);
    BK(n)->mark = 0;
}

int bs_backward_next(bs_bwd *b, bs_step *out)
{
    bs_ctx *c = b->c;
    if (b->failed) return -1;
    if (b->pos == b->sched.nstep) {
        /* every step has run: the leaves' gradients are final */
        if (b->eager && b->cur >= 0)
            for (int32_t k = 0; k < b->sched.nleaf; k++) {
                bs_node *n = bs__node(c, b->sched.leaf[k]);
                if (BK(n)->mark != b->pass) continue;
                if (PS(n)->gtmp && !grad_add(c, n, PS(n)->gtmp)) goto nomem;
                gtmp_free(n);
                BK(n)->mark = 0;
            }
        b->cur = -1;
        return 0;
    }
    if (c->interrupted) {
        c->interrupted = 0;
        bs__err(c, BS_ERR_INTERRUPT, "interrupted");
        b->failed = true;
        return -1;
    }
    int32_t i = b->sched.step[b->pos++];
    b->cur = i - 1;
    bs_node *n = bs__node(c, i);
    /* the first step into a checkpoint runs its forward again (its nodes are in a row, so the
       steps of one checkpoint follow each other) */
    bs_recompute_info rc = {0};
    int32_t ck = c->nckpt ? bs__ckpt_of(c, n) : 0;
    if (ck && ck != b->ckpt && bs__ckpt_recompute(c, ck, i, &rc)) {
        b->failed = true;
        return -1;
    }
    b->ckpt = ck;
    if (!out && bs_ops[n->op].s_vjp && n->value.shape.ndim == 0 &&
        !bs_dtype_in_float(n->value.dtype) && scalar_step(c, n)) {
        if (b->eager) retire(b, n);
        return 1;
    }
    int64_t numel = bs_shape_numel(&n->value.shape);
    if (!PS(n)->gtmp) { /* reachable only through inputs that carried no gradient: zero */
        PS(n)->gtmp = gtmp_alloc(n);
        if (!PS(n)->gtmp) goto nomem;
    }
    bs_tensor g = {n->value.dtype, n->value.shape, PS(n)->gtmp};
    bs_tensor in[BS_MAX_INPUTS];
    bs__inputs(c, n, in);
    if (out) {
        memset(out, 0, sizeof *out);
        out->node = i;
        out->index = ++b->index;
        out->total = b->total;
        out->upstream = g;
        out->nin = n->nin;
        out->recompute = rc;
    }
    for (int k = 0; k < n->nin; k++) {
        bs_node *x = bs__node(c, n->in[k]);
        bs_step_input *si = out ? &out->in[k] : NULL;
        if (si) si->input = n->in[k];
        if (!x->requires_grad || !bs_ops[n->op].deriv[k]) continue;
        /* the same node used twice as input (x * x) gets both contributions */
        bool had = PS(x)->gtmp != NULL;
        if (!had) {
            PS(x)->gtmp = gtmp_alloc(x);
            if (!PS(x)->gtmp) goto nomem;
        }
        int64_t xn = bs_shape_numel(&x->value.shape);
        if (b->detail && si) {
            double *v = scratch_get(&b->vjp[k], xn);
            if (!v) goto nomem;
            run_vjp(c, n, in, &g, k, v);
            vjp_round(n->value.dtype, x->value.dtype, v, xn);
            si->vjp = (bs_tensor){x->value.dtype, x->value.shape, v};
            bs__round_tensor(&si->vjp);
            for (int64_t j = 0; j < xn; j++) PS(x)->gtmp[j] += v[j];
            /* the local derivative: the VJP of a ones upstream, meaningful elementwise */
            bool ew = bs_ops[n->op].kind == BS_K_EW && bs_shape_eq(&x->value.shape, &n->value.shape);
            if (ew || numel == 1) {
                double *one = scratch_get(&b->ones, numel);
                double *l = scratch_get(&b->local[k], xn);
                if (!one || !l) goto nomem;
                for (int64_t j = 0; j < numel; j++) one[j] = 1;
                bs_tensor go = {n->value.dtype, n->value.shape, one};
                run_vjp(c, n, in, &go, k, l);
                si->local = (bs_tensor){x->value.dtype, x->value.shape, l};
                si->local_ok = true;
            } else if (bs_ops[n->op].kind == BS_K_EW) {
                /* x broadcasts: each output element's dOUT/dx, at the output's shape, is the
                   JVP of a ones tangent on x alone (the VJP then sums these over the
                   broadcast dims) */
                double *one = scratch_get(&b->ones, xn);
                double *l = scratch_get(&b->local[k], numel);
                if (!one || !l) goto nomem;
                for (int64_t j = 0; j < xn; j++) one[j] = 1;
                bs_tensor tan[BS_MAX_INPUTS];
                for (int j = 0; j < n->nin; j++) tan[j] = (bs_tensor){in[j].dtype, in[j].shape, NULL};
                tan[k].data = one;
                bs_tensor lo = {n->value.dtype, n->value.shape, l};
                bs_ops[n->op].jvp(in, &n->value, &n->attr, tan, &lo);
                si->local = lo;
                si->local_ok = si->local_bcast = true;
            }
        } else if (PS(x)->gtmp && !had) {
            run_vjp(c, n, in, &g, k, PS(x)->gtmp);
            vjp_round(n->value.dtype, x->value.dtype, PS(x)->gtmp, xn);
        } else {
            /* partial sum already there: compute separately, then add (PyTorch's order) */
            double *v = scratch_get(&b->vjp[k], xn);
            if (!v) goto nomem;
            run_vjp(c, n, in, &g, k, v);
            vjp_round(n->value.dtype, x->value.dtype, v, xn);
            for (int64_t j = 0; j < xn; j++) PS(x)->gtmp[j] += v[j];
        }
        if (x->value.dtype != BS_F64) {
            bs_tensor t = {x->value.dtype, x->value.shape, PS(x)->gtmp};
            bs__round_tensor(&t);
        }
        if (si) {
            si->gets_grad = true;
            si->accumulated = had;
            if (b->detail) {
                double *a = scratch_get(&b->after[k], xn);
                if (!a) goto nomem;
                memcpy(a, PS(x)->gtmp, (size_t)xn * sizeof(double));
                si->after = (bs_tensor){x->value.dtype, x->value.shape, a};
            }
        }
    }
    /* this node's gradient is final: retain it in .grad (every node shows its grad) */
    if (!grad_add(c, n, PS(n)->gtmp)) goto nomem;
    if (b->eager && !out)
        retire(b, n);
    else
        b->sweep = true;
    return 1;
nomem:
    bs__err(c, BS_ERR_NOMEM, "out of memory during backward");
    b->failed = true;
    return -1;
}

/* ==== The scalar pass ====
 * bs_backward of a graph whose every step is a 0-d elementwise f64 node with 0-d inputs, f64 where
 * they take a gradient (micrograd's MLP, a scalar training loop): the schedule, the checks and the
 * steps in one sweep down from the root. Every node is reached after all its users (ids are
 * topological), so its gradient is final there: its checks run, its .grad is stored and its VJPs
 * go straight into its inputs, each non-leaf input's in the context's scratch (sp_g, by root - id), each leaf's in
 * its gtmp. The arithmetic and its order are bs_backward_next's steps' (input 0 first; a first
 * contribution 0 + v), so the numbers are the general pass's. A check that fails further down
 * (or an interrupt) undoes what the sweep stored: the nodes it stepped had no .grad before (one
 * that had is stored only once the sweep is through) and get their freed flag back; the leaves'
 * .grad is added at the end, as the general pass does. A node that is not such a step (or
 * checkpoints) hands the pass to the general engine, after the same undoing. Marks left behind
 * are harmless: a mark counts only while it equals the pass. The nodes of bs_apply1 / bs_apply2
 * are compact records (core_int.h's bs__hot): the sweep reads and writes those in place, one
 * line per node (the statement's journal keeps 16 bytes of one made before the statement:
 * bs__txn_hot_node), and fills in a node's full record only for a check that may fail. */
typedef enum { SP_DONE, SP_FAILED, SP_GENERAL } sp_result;

static bool sp_grow(void **p, int64_t *cap, int64_t need, size_t elt)
{
    if (need <= *cap) return true;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elt);
    if (!q) return false;
    bs__prefault((char *)q + (size_t)*cap * elt, (size_t)(nc - *cap) * elt);
    *p = q;
    *cap = nc;
    return true;
}

/* a step the scalar pass takes: a 0-d elementwise f64 node with a grad_fn */
static inline bool sp_node(const bs_node *n)
{
    return n->requires_grad && !n->is_leaf && n->value.shape.ndim == 0 &&
           n->value.dtype == BS_F64 && n->op >= 0 && bs_ops[n->op].s_vjp;
}


/* the pass's state that the steps share */
typedef struct {
    double *G;                      /* c->sp_g */
    int64_t used;                   /* G[0, used) is this pass's, zeros past what was added */
    int32_t nleaf, lo;
} sp_state;

/* input id of a step is reached: 0 when it needs no grad, 1 for a step (a non-leaf), 2 for a
   leaf, -1 out of memory. Marks it on the pass the first time (a leaf joins sp_leaf, a step
   lowers lo). */
static inline int sp_reach(bs_ctx *c, sp_state *s, bs_id id, uint32_t pass)
{
    if (__builtin_expect(!bs__is_full(c, id), 1)) { /* compact: a non-leaf when it needs grad */
        bs__hot *h = &c->hot[id];
        if (!(h->f & BS_H_RG)) return 0;
        if (h->mark != pass) {
            h->mark = pass;
            if (id < s->lo) s->lo = id;
        }
        return 1;
    }
    bs_node *in = &bs__rec_at(c, id)->n;
    if (!in->requires_grad) return 0;
    bool step = has_grad_fn(in);
    if (BK(in)->mark != pass) {
        BK(in)->mark = pass;
        if (step) {
            if (id < s->lo) s->lo = id;
        } else {
            if (s->nleaf == c->sp_capleaf &&
                !sp_grow((void **)&c->sp_leaf, &c->sp_capleaf, s->nleaf + 1, sizeof(int32_t)))
                return -1;
            c->sp_leaf[s->nleaf++] = id;
        }
    }
    return step ? 1 : 2;
}

/* v added to input id's gradient so far (kind: sp_reach's): a step's in G, a leaf's in its gtmp
   (a first contribution 0 + v, as the general pass starts it). false: out of memory. */
static inline bool sp_add(bs_ctx *c, sp_state *s, bs_id root, bs_id id, int kind, double v)
{
    if (kind == 1) {
        int64_t j = root - id;
        if (j >= s->used) {
            if (!sp_grow((void **)&c->sp_g, &c->sp_capg, j + 1, sizeof(double))) return false;
            s->G = c->sp_g;
            memset(s->G + s->used, 0, (size_t)(j + 1 - s->used) * sizeof(double));
            s->used = j + 1;
        }
        s->G[j] += v;
        return true;
    }
    bs_node *in = &bs__rec_at(c, id)->n;
    if (PS(in)->gtmp) {
        PS(in)->gtmp[0] += v;
    } else {
        PS(in)->sgtmp = 0 + v;
        PS(in)->gtmp = &PS(in)->sgtmp;
    }
    return true;
}

/* an input of a step: bs__scalar_in's 0-d f64 value, or a 0-d input of another dtype that takes no
   gradient (the 1 of 1 + x: a Python int is an int64 constant); false for anything else */
static inline bool sp_in(const bs_ctx *c, bs_id id, double *v, uint32_t *ver)
{
    bool rg;
    if (bs__scalar_in(c, id, v, ver, &rg)) return true;
    const bs_node *x = &bs__rec_at(c, id)->n; /* full: a compact record is always 0-d f64 */
    if (x->value.shape.ndim != 0 || x->requires_grad) return false;
    *v = x->value.data[0];
    *ver = x->version;
    return true;
}

/* c->sp_step entries: id << 2 of each node stepped, | 1 when it was freed before, | 2 when it had
   a .grad (added to at the end). A step is taken on the node's compact record (bs__hot) when it
   has one and nothing about it needs its full record (freed before, an input changed in place);
   otherwise on its full record, filled in first. */
static sp_result scalar_pass(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain)
{
    bs_node *r = bs__node(c, root);
    if (c->nckpt || !sp_node(r) || (seed && seed->shape.ndim != 0)) return SP_GENERAL;
    if (!sp_grow((void **)&c->sp_g, &c->sp_capg, 64, sizeof(double))) return SP_GENERAL;
    const uint32_t pass = ++c->pass;
    const bool journal = c->txn.on;
    const int32_t jmark = journal ? c->txn.mark : 0; /* nodes below it are journaled */
    sp_state s = {c->sp_g, 1, 0, root};
    int32_t nstep = 0, ndefer = 0;
    sp_result res = SP_GENERAL;
    s.G[0] = seed ? seed->data[0] : 1;
    BK(r)->mark = pass;
    /* the tape's records and the step list, held here: no node is made during the pass */
    bs__hot *const hot = c->hot;
    int64_t *steps = c->sp_step, capstep = c->sp_capstep;
    for (int32_t i = root; i >= s.lo; i--) {
        double a, bv = 0.0;
        uint32_t va, vb = 0;
        if (!bs__is_full(c, i)) {
            bs__hot *h = &hot[i];
            /* a compact record: a 0-d f64 elementwise node, with a grad_fn when it needs grad
               (only such nodes are marked), its k and k2 0 */
            if (h->mark != pass) continue;
            const bs_id ia = h->in[0], ib = h->in[1];
            if (!sp_in(c, ia, &a, &va) || (ib >= 0 && !sp_in(c, ib, &bv, &vb))) goto undo;
            if (c->interrupted) {
                c->interrupted = 0;
                bs__err(c, BS_ERR_INTERRUPT, "interrupted");
                res = SP_FAILED;
                goto undo;
            }
            if (__builtin_expect(!(h->f & BS_H_FREED) && va == h->in_version[0] &&
                                     vb == h->in_version[1],
                                 1)) {
                if (i < jmark) bs__txn_hot_node(c, i); /* made before the statement */
                int64_t gi = root - i;
                double g = gi < s.used ? s.G[gi] : 0.0;
                if (nstep == capstep) {
                    if (!sp_grow((void **)&c->sp_step, &c->sp_capstep, nstep + 1, sizeof(int64_t)))
                        goto nomem;
                    steps = c->sp_step;
                    capstep = c->sp_capstep;
                }
                bool defer = h->f & BS_H_GRAD;
                ndefer += defer;
                steps[nstep++] = (int64_t)i << 2 | (defer ? 2 : 0);
                h->mark = 0;
                if (!defer) h->grad = g;
                h->f |= BS_H_GRAD | (retain ? 0 : BS_H_FREED);
                const bs_op op = (bs_op)h->op;
                const bs_op_info *info = &bs_ops[op];
                const double o = h->val;
                int kind = sp_reach(c, &s, ia, pass);
                if (kind < 0) goto nomem;
                if (kind && info->deriv[0] &&
                    !sp_add(c, &s, root, ia, kind, bs__ew_vjp(op, g, a, bv, o, 0.0, 0.0, 0)))
                    goto nomem;
                if (ib >= 0) {
                    kind = sp_reach(c, &s, ib, pass);
                    if (kind < 0) goto nomem;
                    if (kind && info->deriv[1] &&
                        !sp_add(c, &s, root, ib, kind, bs__ew_vjp(op, g, a, bv, o, 0.0, 0.0, 1)))
                        goto nomem;
                }
                continue;
            }
            bs__materialize(c, i); /* its error: on the full record */
        }
        bs_node *n = &bs__rec_at(c, i)->n;
        bs__book *bn = BK(n);
        if (bn->mark != pass || !has_grad_fn(n)) continue;
        if (!sp_node(n)) goto undo;
        const bool two = n->nin == 2;
        if (!sp_in(c, n->in[0], &a, &va) || (two && !sp_in(c, n->in[1], &bv, &vb))) goto undo;
        res = SP_FAILED;
        if (c->interrupted) {
            c->interrupted = 0;
            bs__err(c, BS_ERR_INTERRUPT, "interrupted");
            goto undo;
        }
        if (bn->freed && freed_error(c, n)) goto undo;
        if (va != bn->in_version[0] && version_error(c, n, 0)) goto undo;
        if (two && vb != bn->in_version[1] && version_error(c, n, 1)) goto undo;
        res = SP_GENERAL;
        /* the node's gradient is final: stored now (retired, as retire() does) */
        int64_t gi = root - i;
        double g = gi < s.used ? s.G[gi] : 0.0;
        if (nstep == capstep) {
            if (!sp_grow((void **)&c->sp_step, &c->sp_capstep, nstep + 1, sizeof(int64_t))) goto nomem;
            steps = c->sp_step;
            capstep = c->sp_capstep;
        }
        if (journal) bs__txn_node(c, n);
        /* a .grad there already is added to at the end: an add cannot be taken back */
        bool defer = n->grad.data != NULL;
        ndefer += defer;
        steps[nstep++] = (int64_t)i << 2 | (bn->freed ? 1 : 0) | (defer ? 2 : 0);
        if (!defer) {
            n->sgrad = g; /* grad.shape and grad.dtype are the value's from the node's making on */
            n->grad.data = &n->sgrad;
        }
        if (!retain) bn->freed = true;
        bn->mark = 0;
        /* k and k2 are 0 in a record that is not cold (bs__rec) */
        const bs_op_info *info = &bs_ops[n->op];
        double o = n->sval;
        double k = bn->cold ? n->attr.k : 0.0, k2 = bn->cold ? n->attr.k2 : 0.0;
        for (int q = 0; q < n->nin; q++) {
            bs_id id = n->in[q];
            int kind = sp_reach(c, &s, id, pass);
            if (kind < 0) goto nomem;
            if (!kind || !info->deriv[q]) continue;
            if (!sp_add(c, &s, root, id, kind, bs__ew_vjp(n->op, g, a, bv, o, k, k2, q))) goto nomem;
        }
    }
    /* the sweep is through: the nodes that had a .grad, then the leaves (the end of the pass) */
    for (int32_t t = 0; ndefer && t < nstep; t++) {
        if (!(c->sp_step[t] & 2)) continue;
        int32_t i = (int32_t)(c->sp_step[t] >> 2);
        double add = root - i < s.used ? s.G[root - i] : 0.0;
        if (bs__is_full(c, i))
            bs__rec_at(c, i)->n.grad.data[0] += add;
        else
            hot[i].grad += add;
    }
    for (int32_t t = 0; t < s.nleaf; t++) {
        bs_node *n = bs__node(c, c->sp_leaf[t]);
        if (PS(n)->gtmp) grad_add(c, n, PS(n)->gtmp); /* 0-d f64: inline, nothing to allocate */
        PS(n)->gtmp = NULL;
        BK(n)->mark = 0;
    }
    return SP_DONE;
nomem:
    bs__err(c, BS_ERR_NOMEM, "out of memory during backward");
    res = SP_FAILED;
undo:
    for (int32_t t = 0; t < nstep; t++) {
        int64_t e = c->sp_step[t];
        int32_t i = (int32_t)(e >> 2);
        if (bs__is_full(c, i)) {
            bs_node *n = &bs__rec_at(c, i)->n;
            BK(n)->freed = e & 1;
            if (!(e & 2)) n->grad.data = NULL;
        } else {
            hot[i].f &= (uint8_t) ~(BS_H_FREED | ((e & 2) ? 0 : BS_H_GRAD));
            if (e & 1) hot[i].f |= BS_H_FREED;
        }
    }
    for (int32_t t = 0; t < s.nleaf; t++) PS(bs__node(c, c->sp_leaf[t]))->gtmp = NULL;
    return res;
}

static void release(bs_bwd *b, bool commit)
{
    bs_ctx *c = b->c;
    /* an eager pass that ran to the end retired every node on the way */
    bool done = b->eager && !b->sweep && commit && b->cur < 0;
    const bs__sched *sc = &b->sched;
    for (int32_t k = done ? sc->nstep + sc->nleaf : 0; k < sc->nstep + sc->nleaf; k++) {
        bs_node *n = bs__node(c, k < sc->nstep ? sc->step[k] : sc->leaf[k - sc->nstep]);
        if (BK(n)->mark != b->pass) continue;
        if (commit && PS(n)->gtmp && !has_grad_fn(n)) grad_add(c, n, PS(n)->gtmp); /* leaves */
        if (commit && has_grad_fn(n) && !b->retain) {
            bs__txn_node(c, n);
            BK(n)->freed = true;
        }
        gtmp_free(n);
        BK(n)->mark = 0;
    }
    bs__sched_free(&b->sched);
    for (int k = 0; k < BS_MAX_INPUTS; k++) {
        free(b->local[k].p);
        free(b->vjp[k].p);
        free(b->after[k].p);
    }
    free(b->ones.p);
    c->live = NULL;
    free(b);
}

void bs_backward_end(bs_bwd *b)
{
    if (!b) return;
    /* drain what is left so the pass is complete */
    while (!b->failed && bs_backward_next(b, NULL) > 0) {}
    release(b, !b->failed);
}

void bs_backward_abort(bs_bwd *b)
{
    if (b) release(b, false);
}

bs_status bs_backward(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain_graph)
{
    if (root >= 0 && root < c->len && !c->live) {
        sp_result sr = scalar_pass(c, root, seed, retain_graph);
        if (sr == SP_DONE) return BS_OK;
        if (sr == SP_FAILED) return c->code;
    }
    bs_bwd *b = bs_backward_begin(c, root, seed, retain_graph, false);
    if (!b) return c->code;
    int r;
    do r = bs_backward_next(b, NULL); /* scalar steps take scalar_step's fast path there */
    while (r > 0);
    if (r < 0) {
        bs_status st = c->code;
        bs_backward_abort(b);
        return st;
    }
    release(b, true);
    return BS_OK;
}

/* ==== The gradient as of now ====
 * A node the live pass marked and has not stepped yet holds its grad before the pass in .grad and
 * this pass's contributions so far in gtmp (a leaf until the end, a non-leaf until its step): the
 * gradient so far is their sum, rounded the way grad_add() will round it. A node the pass has
 * stepped (id above cur) already added its gtmp into .grad. */

bs_grad_state bs_grad_now(const bs_ctx *c, bs_id id, double *dst)
{
    const bs_node *n = bs_node_get(c, id);
    if (!n) return BS_GRAD_NONE;
    const bs_bwd *b = c->live;
    int64_t numel = bs_shape_numel(&n->value.shape);
    bool on_pass = b && BK(n)->mark == b->pass && !b->failed;
    bool stepped = on_pass && has_grad_fn(n) && id > b->cur;
    if (!on_pass || stepped || !PS(n)->gtmp) {
        if (!n->grad.data) return BS_GRAD_NONE;
        if (dst) memcpy(dst, n->grad.data, (size_t)numel * sizeof(double));
        return on_pass && !stepped ? BS_GRAD_PARTIAL : BS_GRAD_FINAL;
    }
    if (dst) {
        for (int64_t i = 0; i < numel; i++)
            dst[i] = n->grad.data ? n->grad.data[i] + PS(n)->gtmp[i] : PS(n)->gtmp[i];
        bs_tensor t = {n->value.dtype, n->value.shape, dst};
        bs__round_tensor(&t);
    }
    return BS_GRAD_PARTIAL;
}

bs_pass_state bs_backward_state(const bs_ctx *c, bs_id id)
{
    const bs_node *n = bs_node_get(c, id);
    const bs_bwd *b = c->live;
    if (!n || !b || BK(n)->mark != b->pass) return BS_PASS_OFF;
    if (has_grad_fn(n) && id > b->cur) return BS_PASS_STEPPED;
    return PS(n)->gtmp ? BS_PASS_REACHED : BS_PASS_WAITING;
}

bool bs_backward_progress(const bs_ctx *c, bs_id *root, int *index, int *total)
{
    const bs_bwd *b = c->live;
    if (!b) return false;
    if (root) *root = b->root;
    if (index) *index = b->index;
    if (total) *total = b->total;
    return true;
}

/* ==== zero_grad and snapshots ==== */

void bs_zero_grad(bs_ctx *c, bs_id id)
{
    bs_node *n = bs_node_at(c, id);
    if (!n || !n->grad.data) return;
    bs__txn_node(c, n);
    bs__data_free(c, n->grad.data, bs_shape_numel(&n->value.shape), &n->sgrad);
    n->grad.data = NULL;
}

bs_status bs_grad_set(bs_ctx *c, bs_id id, const bs_tensor *g)
{
    bs_node *n = bs_node_at(c, id);
    if (!n) return bs__err(c, BS_ERR_VALUE, "no such tensor");
    int64_t numel = bs_shape_numel(&n->value.shape), gn = bs_shape_numel(&g->shape);
    if (gn != numel || (g->shape.ndim && !bs_shape_eq(&g->shape, &n->value.shape))) {
        char a[64], b[64];
        return bs__err(c, BS_ERR_SHAPE, "assigned grad has data of a different size: %s for a tensor of %s",
                       bs_shape_str(&g->shape, a, sizeof a), bs_shape_str(&n->value.shape, b, sizeof b));
    }
    bs__txn_node(c, n);
    if (!n->grad.data) {
        n->grad.data = bs__data_alloc(c, numel, &n->sgrad);
        if (!n->grad.data) return bs__err(c, BS_ERR_NOMEM, "out of memory");
        n->grad.shape = n->value.shape;
        n->grad.dtype = n->value.dtype;
    }
    for (int64_t i = 0; i < numel; i++) n->grad.data[i] = bs_dtype_round(n->value.dtype, g->data[i]);
    return BS_OK;
}

void bs_zero_grad_all(bs_ctx *c)
{
    for (int32_t i = 0; i < c->len; i++) {
        const bs_node *n = bs__full(c, i); /* a compact record is never a param */
        if (n && n->is_param) bs_zero_grad(c, i);
    }
}

struct bs_grad_snapshot {
    int32_t len;
    double **g;     /* per node: a copy of its grad, or NULL for None */
};

bs_grad_snapshot *bs_grad_snapshot_take(bs_ctx *c)
{
    bs_grad_snapshot *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->len = c->len;
    s->g = calloc((size_t)(c->len ? c->len : 1), sizeof *s->g);
    if (!s->g) {
        free(s);
        return NULL;
    }
    for (int32_t i = 0; i < c->len; i++) {
        bs_node *n = bs__node(c, i);
        if (!n->grad.data) continue;
        size_t bytes = (size_t)bs_shape_numel(&n->value.shape) * sizeof(double);
        s->g[i] = malloc(bytes ? bytes : 1);
        if (!s->g[i]) {
            bs_grad_snapshot_free(s);
            return NULL;
        }
        memcpy(s->g[i], n->grad.data, bytes);
    }
    return s;
}

void bs_grad_snapshot_restore(bs_ctx *c, bs_grad_snapshot *s)
{
    if (!s) return;
    for (int32_t i = 0; i < c->len; i++) {
        bs_node *n = bs__node(c, i);
        double *g = i < s->len ? s->g[i] : NULL;
        if (g || n->grad.data) bs__txn_node(c, n);
        if (!g) {
            bs_zero_grad(c, i);
            continue;
        }
        int64_t numel = bs_shape_numel(&n->value.shape);
        if (!n->grad.data) {
            n->grad.data = bs__data_alloc(c, numel, &n->sgrad);
            n->grad.shape = n->value.shape;
            n->grad.dtype = n->value.dtype;
        }
        if (n->grad.data) memcpy(n->grad.data, g, (size_t)numel * sizeof(double));
    }
    bs_grad_snapshot_free(s);
}

void bs_grad_snapshot_free(bs_grad_snapshot *s)
{
    if (!s) return;
    for (int32_t i = 0; i < s->len; i++) free(s->g[i]);
    free(s->g);
    free(s);
}
