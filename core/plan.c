/* core/plan.c: replay plans: the part of the tape a root depends on, rebound to new sizes, every
 * shape inferred again, leaves initialised again, buffers allocated once on a backend; forward,
 * backward and optimizer steps timed node by node; and the comparison of two engines (--check). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"

/* ==== The plan ==== */

enum {
    PN_MAIN = 1,   /* replayed every step (an ancestor of the root through op inputs) */
    PN_INIT = 2,   /* needed for a param(expr) leaf's initial value (expr's subgraph) */
    PN_HOST = 4    /* its value is computed on the host (leaves, integer constants, init nodes) */
};

typedef struct {
    bs_id id;
    char name[64];                  /* the tape's display name, for messages */
    bs_op op;                       /* BS_OP_LEAF for leaves */
    int nin;
    int in[BS_MAX_INPUTS];          /* plan indices of the inputs */
    bs_attr attr;                   /* reshape's target at the plan's sizes */
    bs_init_kind init;
    int init_src;                   /* plan index (BS_INIT_COPY) or -1 */
    double init_arg[2];
    int8_t sym[BS_MAX_DIMS];
    bs_shape rec_shape;             /* as recorded */
    bs_shape shape;                 /* at the plan's sizes */
    bs_dtype tape_dtype;            /* the node's dtype on the tape */
    bs_dtype dtype;                 /* in the plan: BS_I64, or the plan's float dtype */
    unsigned mark;                  /* PN_* */
    bool rg, param, no_grad, resized;
    bool uses_sym;                  /* its shape follows some size variable */
    bool constant;                  /* main but computed on the host (integer op nodes) */
    bool vjp_in[BS_MAX_INPUTS];     /* input k gets this node's VJP in backward */
    bool alias_in[BS_MAX_INPUTS];   /* ...by sharing this node's grad buffer (no VJP runs) */
    int gown;                       /* plan index of the node whose grad buffer this one uses */
    int fused_act, fused_add;       /* bias + activation pair run as one loop (-1: none) */
    bool fused_bwd;                 /* the pair's backward is fused too */
    bool folded;                    /* a transpose its matmuls read in place (no copy, no grad) */
    int fold_src[BS_MAX_INPUTS];    /* matmul: input k is folded transpose node (-1: none) */
    void *val, *grad, *m, *v;       /* backend buffers (grad may be another node's: gown) */
    void *fval;                     /* an integer tensor's values as floats, for float ops */
    bool need_fval;                 /* ...which some float op reads */
    double *host;                   /* host value (numel doubles) while built, or NULL */
    bs_exec ex;
    double fwd_flops, bwd_flops;
    size_t bytes;
    double *tf, *tb;                /* (cap) ms per timed step */
} pnode;

struct bs_plan {
    bs_backend *be;
    bs_plan_opts o;
    int n;                          /* nodes */
    pnode *nodes;                   /* (n) in tape order */
    int root;                       /* plan index of the root */
    bool do_bwd;
    int64_t t;                      /* optimizer steps taken */
    int64_t dims[BS_MAX_DIMVARS];   /* size variable values in this plan */
    int derived[BS_MAX_DIMVARS];    /* a derived size's base + 1 (0: its own) */
    char dim_name[BS_MAX_DIMVARS][32];
    bool dim_used[BS_MAX_DIMVARS];
    int ndim;
    size_t bytes;                   /* everything allocated on the backend */
    bool keep_host;                 /* keep leaves' host values (for --check) */
    bool *ginit;                    /* (n) grad buffer written in this backward pass */
    int *sched, nsched;             /* the backward pass's steps, plan indices in the order they
                                       run: core's one schedule (bs__sched_build), as eager */
    /* timings */
    bool recording;
    int steps, cap;
    double *step_ms, *fwd_ms, *bwd_ms, *opt_ms; /* (cap) */
    char err[512];
};

/* ==== Small helpers ==== */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static bs_status plan_fail(bs_plan *p, bs_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bs_status plan_fail(bs_plan *p, bs_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return st;
}

/* bytes of one element in a backend buffer (i64 is stored as int32) */
static size_t elem_size(bs_dtype t) { return t == BS_I64 ? 4 : bs_dtype_size(t); }

static size_t buf_bytes(const pnode *n) { return (size_t)bs_shape_numel(&n->shape) * elem_size(n->dtype); }

/* median of n values (sorts a copy) */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    if (n <= 0) return 0;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return v[0];
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* "x", "h = x @ W1" style name of a tape node for messages */
static const char *tape_name(bs_ctx *c, bs_id id, char *buf, size_t len)
{
    return bs_node_name(c, id, buf, len);
}

/* ==== Building: what the root needs ==== */

/* Mark the nodes: MAIN for the root's ancestors through op inputs, INIT for the subgraphs that
 * param(expr)/detach leaves were copied from. Creation order is topological, so one pass down
 * from the root sees every node after all the nodes that use it. Returns the node count. */
static int mark_nodes(bs_ctx *c, bs_id root, unsigned *mark)
{
    int count = 0;
    mark[root] = PN_MAIN;
    for (bs_id i = root; i >= 0; i--) {
        if (!mark[i]) continue;
        count++;
        const bs_node *n = bs__node(c, i);
        if (n->op != BS_OP_LEAF)
            for (int k = 0; k < n->nin; k++) mark[n->in[k]] |= mark[i] & (PN_MAIN | PN_INIT);
        else if (n->init == BS_INIT_COPY && n->init_src >= 0)
            mark[n->init_src] |= PN_INIT;
    }
    return count;
}

/* ==== Building: shapes at the new sizes ==== */

/* a reshape's target with size variables substituted; a -1 stays for the op to infer. When the
 * element count no longer fits and exactly one entry is a literal, that entry was computed from
 * the old sizes (reshape(x, N * D)): it is solved for. */
static void reshape_target(bs_plan *p, pnode *n, const bs_shape *in)
{
    bs_shape *t = &n->attr.shape;
    int literal = -1, nlit = 0;
    bool infer = false;
    int64_t known = 1;
    for (int k = 0; k < t->ndim; k++) {
        int s = n->attr.shape_sym[k];
        if (s >= 0 && s < p->ndim) {
            t->d[k] = p->dims[s];
            p->dim_used[s] = true;
        } else if (t->d[k] == -1) {
            infer = true;
        } else {
            literal = k;
            nlit++;
        }
        if (t->d[k] != -1) known *= t->d[k];
    }
    int64_t numel = bs_shape_numel(in);
    /* literals read off the input's sizes (B, T, C = x.size(); x.view(B, T, H, C // H)): when the
     * count does not fit, a leading or trailing run of literals equal to the input's recorded
     * sizes, dim for dim, takes the input's new sizes */
    const bs_shape *rin = &p->nodes[n->in[0]].rec_shape;
    if (!bs_shape_eq(rin, in) && rin->ndim == in->ndim) {
        bool took[BS_MAX_DIMS] = {false};
        for (int k = 0; k < t->ndim && k < in->ndim; k++) {
            if (n->attr.shape_sym[k] >= 0 && n->attr.shape_sym[k] < p->ndim) {
                if (t->d[k] != in->d[k]) break;
                continue;
            }
            if (t->d[k] == -1 || t->d[k] != rin->d[k]) break;
            t->d[k] = in->d[k];
            took[k] = true;
        }
        for (int k = t->ndim - 1, j = in->ndim - 1; k >= 0 && j >= 0 && !took[k]; k--, j--) {
            if (n->attr.shape_sym[k] >= 0 && n->attr.shape_sym[k] < p->ndim) {
                if (t->d[k] != in->d[j]) break;
                continue;
            }
            if (t->d[k] == -1 || t->d[k] != rin->d[j]) break;
            t->d[k] = in->d[j];
            took[k] = true;
        }
        nlit = 0;
        known = 1;
        for (int k = 0; k < t->ndim; k++) {
            if (!took[k] && t->d[k] != -1 && !(n->attr.shape_sym[k] >= 0 && n->attr.shape_sym[k] < p->ndim)) {
                literal = k;
                nlit++;
            }
            if (t->d[k] != -1) known *= t->d[k];
        }
    }
    if (!infer && known != numel && nlit == 1 && t->d[literal] > 0) {
        int64_t rest = known / t->d[literal];
        if (rest > 0 && numel % rest == 0) t->d[literal] = numel / rest;
    }
}

/* a piece of split or chunk (attr.k pieces, this one attr.k2): its bounds for the input's size
 * now, the dim cut into as many pieces as when it was recorded */
static void split_bounds(pnode *n, const bs_shape *in)
{
    int nd = in->ndim, d = n->attr.dim < 0 ? n->attr.dim + nd : n->attr.dim;
    if (d < 0 || d >= nd) return; /* the op's shape function says why */
    int64_t pieces = (int64_t)n->attr.k, i = (int64_t)n->attr.k2, len = in->d[d];
    int64_t size = (len + pieces - 1) / pieces;
    n->attr.start = i * size;
    n->attr.stop = i + 1 == pieces ? BS_SLICE_NO_STOP : (i + 1) * size;
}

/* the shape of a constructor leaf at the plan's sizes */
static bs_shape leaf_shape(bs_plan *p, const pnode *n)
{
    bs_shape s = n->rec_shape;
    for (int k = 0; k < s.ndim; k++) {
        int v = n->sym[k];
        if (v >= 0 && v < p->ndim) {
            s.d[k] = p->dims[v];
            p->dim_used[v] = true;
        }
    }
    return s;
}

/* Why node i's shape fails: the literal-data leaves (and constructors with literal sizes) it
 * depends on, which keep their recorded size. Appends to buf. */
static void blame_literals(bs_plan *p, int fail, char *buf, size_t len)
{
    bool *reach = calloc((size_t)p->n, sizeof *reach);
    if (!reach) return;
    reach[fail] = true;
    for (int i = fail; i >= 0; i--)
        if (reach[i])
            for (int k = 0; k < p->nodes[i].nin; k++) reach[p->nodes[i].in[k]] = true;
    char lit[256] = "", con[256] = "";
    int nlit = 0, ncon = 0;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!reach[i] || n->op != BS_OP_LEAF || n->shape.ndim == 0 || n->uses_sym) continue;
        char sh[64], item[160];
        snprintf(item, sizeof item, "%s %s", n->name, bs_shape_str(&n->shape, sh, sizeof sh));
        char *list = n->init == BS_INIT_DATA ? lit : con;
        int *count = n->init == BS_INIT_DATA ? &nlit : &ncon;
        size_t l = strlen(list);
        snprintf(list + l, sizeof lit - l, "%s%s", *count ? ", " : "", item);
        (*count)++;
    }
    free(reach);
    size_t l = strlen(buf);
    if (nlit)
        snprintf(buf + l, len - l,
                 "; %s %s literal data, which replays only at its own size: make %s with a "
                 "constructor that takes the size variables (randn(N, D), zeros(N, dtype='i64'), ...)",
                 lit, nlit == 1 ? "is" : "are", nlit == 1 ? "it" : "them");
    else if (ncon)
        snprintf(buf + l, len - l, "; %s %s literal sizes: write %s with size variables", con,
                 ncon == 1 ? "has" : "have", ncon == 1 ? "it" : "them");
}

static bs_status infer_shapes(bs_plan *p, bs_ctx *c)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (n->op == BS_OP_LEAF) {
            if (n->init == BS_INIT_COPY && n->init_src >= 0)
                n->shape = p->nodes[n->init_src].shape;
            else if (n->init == BS_INIT_DATA || n->init == BS_INIT_NONE)
                n->shape = n->rec_shape;
            else
                n->shape = leaf_shape(p, n);
        } else {
            bs_shape in[BS_MAX_INPUTS];
            bs_dtype dt[BS_MAX_INPUTS];
            for (int k = 0; k < n->nin; k++) {
                in[k] = p->nodes[n->in[k]].shape;
                dt[k] = p->nodes[n->in[k]].tape_dtype;
            }
            if (n->op == BS_OP_RESHAPE) reshape_target(p, n, &in[0]);
            if (n->op == BS_OP_SLICE && n->attr.k >= 1) split_bounds(n, &in[0]);
            char msg[256] = "";
            if (bs_ops[n->op].shape(in, dt, &n->attr, &n->shape, msg, sizeof msg)) {
                char sizes[160], what[160];
                const bs_node *tn = bs__node(c, n->id);
                bs_plan_sizes(p, sizes, sizeof sizes);
                if (tn->text && tn->label)
                    snprintf(what, sizeof what, "%s = %s", n->name, tn->text);
                else
                    snprintf(what, sizeof what, "%s (%s)", n->name, bs_ops[n->op].name);
                size_t ml = strlen(msg);
                if (ml && msg[ml - 1] == '.') msg[ml - 1] = 0;
                plan_fail(p, BS_ERR_SHAPE, "cannot replay at %s: %s fails: %s", sizes, what,
                          msg[0] ? msg : "the shapes do not fit");
                blame_literals(p, i, p->err, sizeof p->err);
                return BS_ERR_SHAPE;
            }
        }
        n->resized = !bs_shape_eq(&n->shape, &n->rec_shape);
        if (n->op == BS_OP_LEAF && n->init == BS_INIT_COPY && n->init_src >= 0) {
            n->uses_sym = p->nodes[n->init_src].uses_sym;
        } else {
            for (int k = 0; k < BS_MAX_DIMS; k++)
                n->uses_sym |= n->op == BS_OP_LEAF ? (k < n->rec_shape.ndim && n->sym[k] >= 0)
                                                   : (n->op == BS_OP_RESHAPE && k < n->attr.shape.ndim &&
                                                      n->attr.shape_sym[k] >= 0);
            for (int k = 0; k < n->nin; k++) n->uses_sym |= p->nodes[n->in[k]].uses_sym;
        }
        if (bs__check_size(c, &n->shape)) {
            plan_fail(p, BS_ERR_NOMEM, "%s", bs_errmsg(c));
            return BS_ERR_NOMEM;
        }
    }
    return BS_OK;
}

/* ==== Building: initial values on the host ==== */

/* a random stream per (seed, node): the same leaf gets the same values in every plan */
static bs_status init_leaf(bs_plan *p, bs_ctx *c, pnode *n, double *d)
{
    int64_t numel = bs_shape_numel(&n->shape);
    if (!n->resized) { /* the tape's current value */
        memcpy(d, bs__node(c, n->id)->value.data, (size_t)numel * sizeof(double));
        return BS_OK;
    }
    switch (n->init) {
    case BS_INIT_RANDN:
    case BS_INIT_RAND: {
        bs_ctx *r = bs_ctx_new();
        if (!r) return plan_fail(p, BS_ERR_NOMEM, "out of memory");
        bs_ctx_seed(r, p->o.seed * 0x9e3779b97f4a7c15ull + (uint64_t)n->id + 1);
        /* rand's [0, 1); with bounds lo < hi: uniform in [lo, hi) (nn.Linear's weights), or for an
           integer leaf the integers in [lo, hi) (torch.randint) */
        double lo = n->init_arg[0], hi = n->init_arg[1];
        int hs = bs__node(c, n->id)->hi_sym1 - 1;
        if (hs >= 0 && hs < p->ndim) hi = (double)p->dims[hs];
        bool range = n->init == BS_INIT_RAND && hi > lo, ints = n->tape_dtype == BS_I64;
        for (int64_t i = 0; i < numel; i++) {
            d[i] = n->init == BS_INIT_RANDN ? bs_rand_normal(r) : bs_rand_uniform(r);
            if (range) d[i] = ints ? fmin(lo + floor(d[i] * (hi - lo)), hi - 1) : lo + d[i] * (hi - lo);
        }
        bs_ctx_free(r);
        break;
    }
    case BS_INIT_ZEROS: memset(d, 0, (size_t)numel * sizeof(double)); break;
    case BS_INIT_ONES: for (int64_t i = 0; i < numel; i++) d[i] = 1; break;
    case BS_INIT_FULL: for (int64_t i = 0; i < numel; i++) d[i] = n->init_arg[0]; break;
    case BS_INIT_ARANGE:
        for (int64_t i = 0; i < numel; i++) d[i] = n->init_arg[0] + (double)i * n->init_arg[1];
        break;
    case BS_INIT_EYE: {
        memset(d, 0, (size_t)numel * sizeof(double));
        int64_t r = n->shape.ndim >= 1 ? n->shape.d[0] : 1;
        int64_t cc = n->shape.ndim >= 2 ? n->shape.d[1] : r;
        for (int64_t i = 0; i < r && i < cc; i++) d[i * cc + i] = 1;
        break;
    }
    case BS_INIT_COPY:
        if (n->init_src >= 0) {
            memcpy(d, p->nodes[n->init_src].host, (size_t)numel * sizeof(double));
            break;
        }
        goto fixed; /* a detached copy whose source was reclaimed is data now */
    default:
    fixed: {
        char nm[64];
        return plan_fail(p, BS_ERR_SHAPE, "%s is literal data and replays only at its own size",
                         tape_name(c, n->id, nm, sizeof nm));
    }
    }
    return BS_OK;
}

/* Which nodes need a host value: every main leaf, every integer op node of the main graph
 * (a constant of the step), and for each resized param(expr) leaf, expr's subgraph. */
static void mark_host(bs_plan *p)
{
    for (int i = p->n - 1; i >= 0; i--) {
        pnode *n = &p->nodes[i];
        if ((n->mark & PN_MAIN) && (n->op == BS_OP_LEAF || n->tape_dtype == BS_I64)) n->mark |= PN_HOST;
        if (!(n->mark & PN_HOST)) continue;
        if (n->op != BS_OP_LEAF)
            for (int k = 0; k < n->nin; k++) p->nodes[n->in[k]].mark |= PN_HOST;
        else if (n->init == BS_INIT_COPY && n->resized && n->init_src >= 0)
            p->nodes[n->init_src].mark |= PN_HOST;
    }
}

static bs_status host_values(bs_plan *p, bs_ctx *c)
{
    mark_host(p);
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_HOST)) continue;
        int64_t numel = bs_shape_numel(&n->shape);
        n->host = calloc((size_t)(numel ? numel : 1), sizeof(double));
        if (!n->host) return plan_fail(p, BS_ERR_NOMEM, "out of memory for initial values");
        bs_status st;
        if (n->op == BS_OP_LEAF) {
            st = init_leaf(p, c, n, n->host);
        } else {
            bs_tensor in[BS_MAX_INPUTS];
            for (int k = 0; k < n->nin; k++) {
                pnode *x = &p->nodes[n->in[k]];
                in[k] = (bs_tensor){x->tape_dtype, x->shape, x->host};
            }
            bs_tensor out = {n->tape_dtype, n->shape, n->host};
            char msg[256] = "";
            st = bs_ops[n->op].fwd(in, &n->attr, &out, msg, sizeof msg);
            if (st) {
                char nm[64];
                return plan_fail(p, st, "%s (%s): %s", tape_name(c, n->id, nm, sizeof nm),
                                 bs_ops[n->op].name, msg);
            }
        }
        if (st) return st;
        /* what the replay's dtype can hold */
        if (n->dtype != BS_I64 && n->dtype != BS_F64)
            for (int64_t j = 0; j < numel; j++) n->host[j] = bs_dtype_round(n->dtype, n->host[j]);
    }
    /* the init-only subgraphs are done with */
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) && n->host) {
            free(n->host);
            n->host = NULL;
        }
    }
    return BS_OK;
}

/* ==== Building: transposes read in place ====
 * On a backend with transposed operands (supports_matmul_t), x @ W.T does not copy W: when every
 * use of a 2-D transpose is a plain 2-D matmul (or x @ W.T with x of more dims, its rows taken as
 * one matrix), the matmuls read W transposed in place (OpenBLAS's and cuBLAS's transpose flag),
 * and their VJPs add into W's grad directly. The transpose's own value is only made when someone
 * reads it (--check). */
static void find_folds(bs_plan *p)
{
    bs_backend *be = p->be;
    if (!be->supports_matmul_t || !be->matmul_t_fwd || !be->matmul_t_vjp ||
        !be->supports_matmul_t(be, p->o.dtype))
        return;
    for (int t = 0; t < p->n; t++) {
        pnode *tn = &p->nodes[t];
        if (!(tn->mark & PN_MAIN) || tn->op != BS_OP_TRANSPOSE || tn->constant || t == p->root ||
            tn->shape.ndim != 2)
            continue;
        bool ok = true, used = false;
        for (int i = t + 1; i < p->n && ok; i++) {
            pnode *m = &p->nodes[i];
            if (!(m->mark & PN_MAIN) || m->op == BS_OP_LEAF) continue;
            for (int k = 0; k < m->nin; k++) {
                if (m->in[k] != t) continue;
                used = true;
                /* x @ W.T with x of any rank >= 2 too (nn.Linear on (N, S, D)): x's rows are
                   one matrix, W the other */
                int an = p->nodes[m->in[0]].shape.ndim;
                ok = ok && m->op == BS_OP_MATMUL && !m->constant && p->nodes[m->in[1]].shape.ndim == 2 &&
                     (an == 2 || (k == 1 && m->in[0] != t && an > 2));
            }
        }
        if (!ok || !used) continue;
        tn->folded = true;
        for (int i = t + 1; i < p->n; i++)
            for (int k = 0; k < p->nodes[i].nin; k++)
                if ((p->nodes[i].mark & PN_MAIN) && p->nodes[i].in[k] == t) p->nodes[i].fold_src[k] = t;
    }
}

/* ==== Building: buffers on the backend ==== */

static void *plan_alloc(bs_plan *p, size_t bytes)
{
    if (!bytes) bytes = 8;
    void *b = p->be->alloc(p->be, bytes);
    if (b) p->bytes += bytes;
    return b;
}

static bs_status alloc_buffers(bs_plan *p, bs_ctx *c)
{
    bs_backend *be = p->be;
    bool need_m = p->o.update && (p->o.opt.kind == BS_OPT_ADAM || p->o.opt.momentum != 0);
    bool need_v = p->o.update && p->o.opt.kind == BS_OPT_ADAM;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN)) continue;
        size_t b = buf_bytes(n);
        int64_t numel = bs_shape_numel(&n->shape);
        if (n->folded) continue; /* its value is made only if someone reads it */
        n->val = plan_alloc(p, b);
        if (!n->val) goto nomem;
        n->bytes = b;
        if (p->do_bwd && n->param && n->rg) {
            if (need_m) {
                if (!(n->m = plan_alloc(p, b))) goto nomem;
                be->fill(be, n->m, 0, numel, n->dtype);
                n->bytes += b;
            }
            if (need_v) {
                if (!(n->v = plan_alloc(p, b))) goto nomem;
                be->fill(be, n->v, 0, numel, n->dtype);
                n->bytes += b;
            }
        }
        if (n->need_fval) {
            if (!(n->fval = plan_alloc(p, (size_t)numel * elem_size(p->o.dtype)))) goto nomem;
            n->bytes += (size_t)numel * elem_size(p->o.dtype);
            bs_status st = be->upload(be, n->fval, n->host, numel, p->o.dtype);
            if (st) return plan_fail(p, st, "%s: upload failed", be->name);
        }
        if (n->host) {
            bs_status st = be->upload(be, n->val, n->host, numel, n->dtype);
            if (st) return plan_fail(p, st, "%s: upload failed", be->name);
            if (!p->keep_host) {
                free(n->host);
                n->host = NULL;
            }
        }
    }
    /* grads, from the root down: a node whose only gradient is passed through unchanged by its
     * one consumer (x in x + b of x's shape, x - b, reshape(x)) shares that consumer's buffer */
    if (!p->do_bwd) return BS_OK;
    int *nvjp = calloc((size_t)p->n, sizeof *nvjp);
    if (!nvjp) goto nomem;
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->nodes[i].nin; k++)
            if (p->nodes[i].vjp_in[k]) nvjp[p->nodes[i].in[k]]++;
    for (int i = p->n - 1; i >= 0; i--) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || !n->rg || n->folded) continue;
        if (n->gown == i) {
            n->grad = plan_alloc(p, buf_bytes(n));
            if (!n->grad) {
                free(nvjp);
                goto nomem;
            }
            n->bytes += buf_bytes(n);
        } else {
            n->grad = p->nodes[n->gown].grad;
        }
        for (int k = 0; k < n->nin; k++) {
            pnode *x = &p->nodes[n->in[k]];
            bool through = n->op == BS_OP_RESHAPE || (n->op == BS_OP_ADD) ||
                           (n->op == BS_OP_SUB && k == 0);
            if (n->vjp_in[k] && through && nvjp[n->in[k]] == 1 && x->op != BS_OP_LEAF &&
                n->in[k] != p->root && bs_shape_numel(&x->shape) == bs_shape_numel(&n->shape) &&
                (n->op == BS_OP_RESHAPE || bs_shape_eq(&x->shape, &n->shape))) {
                n->alias_in[k] = true;
                x->gown = n->gown;
            }
        }
    }
    free(nvjp);
    p->ginit = calloc((size_t)p->n, sizeof *p->ginit);
    if (!p->ginit) goto nomem;
    return BS_OK;
nomem:;
    char sz[32];
    snprintf(sz, sizeof sz, "%.1f MB", (double)p->bytes / 1e6);
    (void)c;
    return plan_fail(p, BS_ERR_NOMEM, "out of memory on %s after %s of buffers", be->name, sz);
}

/* Bias + activation pairs a backend runs as one loop (supports_bias_act): act(a) where a = x + b
 * is used by nothing else (its forward and, when a's only gradient comes from act, its
 * backward). */
static void find_fusions(bs_plan *p)
{
    bs_backend *be = p->be;
    if (!be->supports_bias_act || !be->bias_act_fwd || !be->bias_act_vjp) return;
    int *nuse = calloc((size_t)p->n, sizeof *nuse);
    if (!nuse) return;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].mark & PN_MAIN)
            for (int k = 0; k < p->nodes[i].nin; k++) nuse[p->nodes[i].in[k]]++;
    for (int i = 0; i < p->n; i++) {
        pnode *r = &p->nodes[i];
        if (!(r->mark & PN_MAIN) || r->op == BS_OP_LEAF || r->constant || r->nin != 1) continue;
        int ai = r->in[0];
        pnode *a = &p->nodes[ai];
        if (a->op != BS_OP_ADD || a->constant || nuse[ai] != 1 || ai == p->root ||
            a->fused_act >= 0 || !be->supports_bias_act(be, &a->ex, &r->ex))
            continue;
        a->fused_act = i;
        r->fused_add = ai;
        r->fused_bwd = p->do_bwd && r->rg && a->rg && r->vjp_in[0] && a->gown == ai;
    }
    free(nuse);
}

/* backward FLOPs: the op's count per VJP that runs (a gradient shared through a buffer costs
 * nothing; a fused bias VJP is counted on the activation that runs it) */
static void count_bwd_flops(bs_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF) continue;
        bool bias_done = n->fused_act >= 0 && p->nodes[n->fused_act].fused_bwd;
        int runs = 0;
        for (int k = 0; k < n->nin; k++)
            runs += n->vjp_in[k] && !n->alias_in[k] && !(bias_done && k == 1);
        n->bwd_flops = n->fwd_flops * runs;
    }
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (n->fused_bwd && p->nodes[n->fused_add].vjp_in[1])
            n->bwd_flops += p->nodes[n->fused_add].fwd_flops;
    }
}

/* Does op node n read its integer input k as floats (2 * arange(N), x ** 2)? Everything but
 * indices (a class-index target, index_select's index: BS_F_INDEX1) and the integer ops computed
 * on the host does, as the eager engine does. */
static bool int_as_float(const pnode *n, int k)
{
    return !n->constant && !((bs_ops[n->op].flags & BS_F_INDEX1) && k == 1);
}

/* integer tensors some float op reads get a float copy (allocated with the other buffers) */
static void mark_float_uses(bs_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF) continue;
        for (int k = 0; k < n->nin; k++)
            if (p->nodes[n->in[k]].dtype == BS_I64 && int_as_float(n, k))
                p->nodes[n->in[k]].need_fval = true;
    }
}

/* the exec record of each op node and its forward FLOPs */
static void build_execs(bs_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF) continue;
        bs_exec *e = &n->ex;
        memset(e, 0, sizeof *e);
        e->op = n->op;
        e->attr = n->attr;
        e->nin = n->nin;
        bs_shape in[BS_MAX_INPUTS];
        for (int k = 0; k < n->nin; k++) {
            pnode *x = &p->nodes[n->in[k]];
            bool as_float = x->dtype == BS_I64 && int_as_float(n, k);
            e->in[k] = as_float ? x->fval : x->val;
            e->in_shape[k] = in[k] = x->shape;
            e->in_dtype[k] = as_float ? p->o.dtype : x->dtype;
        }
        e->out = n->val;
        e->out_shape = n->shape;
        e->dtype = p->o.dtype;
        n->fwd_flops = bs_ops[n->op].flops(in, &n->shape, &n->attr);
    }
}

/* ==== bs_plan_new ==== */

bs_plan_opts bs_plan_defaults(void)
{
    bs_plan_opts o;
    memset(&o, 0, sizeof o);
    o.dtype = BS_F32;
    o.backward = true;
    o.update = true;
    o.opt = bs_opt_defaults(BS_OPT_SGD);
    o.opt.lr = 0.01;
    o.time_nodes = true;
    return o;
}

static bs_plan *plan_build(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o,
                           bool keep_host, bool shapes_only, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!bs_node_get(c, root)) {
        if (err) snprintf(err, errlen, "no such node");
        return NULL;
    }
    bs_plan *p = calloc(1, sizeof *p);
    if (!p) {
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->be = be;
    p->o = *o;
    p->keep_host = keep_host;
    bs_status st = BS_OK;
    char nm[64];

    /* sizes */
    p->ndim = bs_dim_count(c);
    for (int i = 0; i < p->ndim; i++) {
        p->dims[i] = bs_dim_value(c, i);
        snprintf(p->dim_name[i], sizeof p->dim_name[i], "%s", bs_dim_name(c, i));
        p->derived[i] = bs_dim_base(c, i, NULL) + 1;
    }
    for (int b = 0; b < o->nbind; b++) {
        int d = o->bind_dim[b];
        if (d < 0 || d >= p->ndim || o->bind_value[b] < 1) {
            st = plan_fail(p, BS_ERR_ARG, "a size must be a size variable bound to at least 1");
            goto fail;
        }
        p->dims[d] = o->bind_value[b];
    }
    for (int i = 0; i < p->ndim; i++) { /* 3*D follows D */
        int64_t mul;
        int base = bs_dim_base(c, i, &mul);
        if (base >= 0) p->dims[i] = mul * p->dims[base];
    }
    /* be is NULL for shapes alone (bs_plan_shapes): nothing runs */
    if (o->dtype == BS_I64 || (be && !be->supports_dtype(be, o->dtype))) {
        st = plan_fail(p, BS_ERR_UNSUPPORTED, "the %s backend has no %s (try dtype=f32)",
                       be ? be->name : "replay", bs_dtype_name(o->dtype));
        goto fail;
    }

    /* nodes */
    unsigned *mark = calloc((size_t)root + 1, sizeof *mark);
    int *of = malloc(((size_t)root + 1) * sizeof *of);
    if (!mark || !of) {
        free(mark);
        free(of);
        st = plan_fail(p, BS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    p->n = mark_nodes(c, root, mark);
    p->nodes = calloc((size_t)p->n, sizeof *p->nodes);
    if (!p->nodes) {
        free(mark);
        free(of);
        st = plan_fail(p, BS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int k = 0;
    for (bs_id i = 0; i <= root; i++) {
        of[i] = -1;
        if (!mark[i]) continue;
        const bs_node *t = bs__node(c, i);
        pnode *n = &p->nodes[k];
        n->id = i;
        bs_node_name(c, i, n->name, sizeof n->name);
        n->op = t->op;
        n->nin = t->op == BS_OP_LEAF ? 0 : t->nin;
        for (int j = 0; j < n->nin; j++) n->in[j] = of[t->in[j]];
        n->attr = t->attr;
        n->init = t->init;
        n->init_src = t->op == BS_OP_LEAF && t->init == BS_INIT_COPY && t->init_src >= 0 ? of[t->init_src] : -1;
        n->init_arg[0] = t->init_arg[0];
        n->init_arg[1] = t->init_arg[1];
        memcpy(n->sym, t->sym, sizeof n->sym);
        n->rec_shape = t->value.shape;
        n->tape_dtype = t->value.dtype;
        n->dtype = t->value.dtype == BS_I64 ? BS_I64 : o->dtype;
        n->mark = mark[i];
        n->rg = t->requires_grad;
        n->param = t->is_param || (t->op == BS_OP_LEAF && t->requires_grad);
        n->no_grad = t->in_no_grad;
        n->gown = k;
        n->fused_act = n->fused_add = -1;
        for (int j = 0; j < BS_MAX_INPUTS; j++) n->fold_src[j] = -1;
        of[i] = k++;
    }
    p->root = of[root];
    free(mark);
    if (o->backward && p->nodes[p->root].rg) {
        /* the backward order is the eager engine's own: core's schedule, marked apart from the
           tape's marks (a pass may be live in the REPL) */
        uint32_t *pm = calloc((size_t)root + 1, sizeof *pm);
        bs__sched sc;
        if (!pm || bs__sched_build(c, root, 1, pm, false, &sc)) {
            free(pm);
            free(of);
            st = plan_fail(p, BS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        free(pm);
        p->sched = malloc(((size_t)sc.nstep + 1) * sizeof *p->sched);
        for (int32_t j = 0; p->sched && j < sc.nstep; j++) p->sched[p->nsched++] = of[sc.step[j]];
        bs__sched_free(&sc);
        if (!p->sched) {
            free(of);
            st = plan_fail(p, BS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    free(of);
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        n->constant = (n->mark & PN_MAIN) && n->op != BS_OP_LEAF && n->tape_dtype == BS_I64;
        for (int j = 0; j < n->nin; j++)
            n->vjp_in[j] = n->rg && !n->constant && p->nodes[n->in[j]].rg && bs_ops[n->op].deriv[j];
    }
    p->do_bwd = o->backward && p->nodes[p->root].rg;

    if ((st = infer_shapes(p, c))) goto fail;
    /* every rebound size variable must size something */
    for (int b = 0; b < o->nbind; b++) {
        int d = o->bind_dim[b];
        if (!p->dim_used[d]) {
            char fixed[256];
            int nf = bs_plan_fixed(p, fixed, sizeof fixed);
            st = plan_fail(p, BS_ERR_ARG,
                           "%s sizes nothing that %s depends on%s%s%s", p->dim_name[d],
                           tape_name(c, root, nm, sizeof nm),
                           nf ? " (literal data replays only at its own size: " : "",
                           nf ? fixed : "", nf ? ")" : "");
            goto fail;
        }
    }
    if (shapes_only) return p;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF || n->constant) continue;
        if (!be->supports(be, n->op, o->dtype)) {
            st = plan_fail(p, BS_ERR_UNSUPPORTED, "the %s backend has no %s in %s (%s)", be->name,
                           bs_ops[n->op].name, bs_dtype_name(o->dtype),
                           tape_name(c, n->id, nm, sizeof nm));
            goto fail;
        }
    }
    if ((st = host_values(p, c))) goto fail;
    mark_float_uses(p);
    find_folds(p);
    if ((st = alloc_buffers(p, c))) goto fail;
    build_execs(p);
    find_fusions(p);
    count_bwd_flops(p);
    return p;
fail:
    if (err) snprintf(err, errlen, "%s", p->err);
    (void)st;
    bs_plan_free(p);
    return NULL;
}

bs_plan *bs_plan_new(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o, char *err,
                     size_t errlen)
{
    return plan_build(c, root, be, o, false, false, err, errlen);
}

void bs_plan_free(bs_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        void *bufs[5] = {n->val, n->gown == i ? n->grad : NULL, n->m, n->v, n->fval};
        for (int j = 0; j < 5; j++)
            if (bufs[j]) p->be->free(p->be, bufs[j]);
        free(n->host);
        free(n->tf);
        free(n->tb);
    }
    free(p->nodes);
    free(p->ginit);
    free(p->sched);
    free(p->step_ms);
    free(p->fwd_ms);
    free(p->bwd_ms);
    free(p->opt_ms);
    free(p);
}

const char *bs_plan_errmsg(const bs_plan *p) { return p->err; }

/* ==== Running ==== */

/* room for the timings of one more step */
static bool stats_grow(bs_plan *p)
{
    if (p->steps < p->cap) return true;
    int cap = p->cap ? p->cap * 2 : 16;
    double **arr[4] = {&p->step_ms, &p->fwd_ms, &p->bwd_ms, &p->opt_ms};
    for (int j = 0; j < 4; j++) {
        double *a = realloc(*arr[j], (size_t)cap * sizeof(double));
        if (!a) return false;
        *arr[j] = a;
    }
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF) continue;
        double *a = realloc(n->tf, (size_t)cap * sizeof(double));
        if (!a) return false;
        n->tf = a;
        a = realloc(n->tb, (size_t)cap * sizeof(double));
        if (!a) return false;
        n->tb = a;
    }
    p->cap = cap;
    return true;
}

/* record ms for node n (fwd or bwd) in the step being timed */
static void record(bs_plan *p, pnode *n, bool bwd, double ms)
{
    if (!p->recording) return;
    (bwd ? n->tb : n->tf)[p->steps] = ms;
}

static bs_status read_root(bs_plan *p, double *loss)
{
    pnode *r = &p->nodes[p->root];
    int64_t numel = bs_shape_numel(&r->shape);
    double one, *buf = numel == 1 ? &one : malloc((size_t)(numel ? numel : 1) * sizeof(double));
    if (!buf) return plan_fail(p, BS_ERR_NOMEM, "out of memory");
    bs_status st = p->be->download(p->be, buf, r->val, numel, r->dtype);
    double s = 0;
    for (int64_t i = 0; i < numel; i++) s += buf[i];
    if (buf != &one) free(buf);
    if (st) return plan_fail(p, st, "%s: download failed", p->be->name);
    *loss = s;
    return BS_OK;
}

/* what a matmul reads for input k: the transpose's source when it is folded */
static const void *fold_operand(bs_plan *p, const pnode *n, int k)
{
    int t = n->fold_src[k];
    return t >= 0 ? p->nodes[p->nodes[t].in[0]].val : n->ex.in[k];
}

bs_status bs_plan_forward(bs_plan *p, double *loss)
{
    bs_backend *be = p->be;
    bool timed = p->o.time_nodes;
    double total = 0;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF || n->constant || n->fused_add >= 0 ||
            n->folded)
            continue;
        double t0 = 0;
        if (timed) {
            be->sync(be);
            t0 = now_ms();
        }
        bs_status st;
        if (n->fused_act >= 0)
            st = be->bias_act_fwd(be, &n->ex, &p->nodes[n->fused_act].ex);
        else if (n->fold_src[0] >= 0 || n->fold_src[1] >= 0)
            st = be->matmul_t_fwd(be, &n->ex, n->fold_src[0] >= 0, n->fold_src[1] >= 0,
                                  fold_operand(p, n, 0), fold_operand(p, n, 1));
        else
            st = be->forward(be, &n->ex);
        if (st)
            return plan_fail(p, st, "%s forward failed on %s%s", bs_ops[n->op].name, be->name,
                             st == BS_ERR_VALUE ? ": a value outside the op's domain (a class "
                                                  "index out of range, a probability outside [0, 1])"
                                                : "");
        if (timed) {
            be->sync(be);
            double ms = now_ms() - t0;
            record(p, n, false, ms);
            total += ms;
        }
    }
    if (p->recording) p->fwd_ms[p->steps] = total;
    if (loss) return read_root(p, loss);
    return BS_OK;
}

/* node j's grad buffer, zeroed the first time this pass writes it */
static bs_status grad_ready(bs_plan *p, int j)
{
    int o = p->nodes[j].gown;
    if (p->ginit[o]) return BS_OK;
    p->ginit[o] = true;
    pnode *n = &p->nodes[o];
    return p->be->fill(p->be, n->grad, 0, bs_shape_numel(&n->shape), n->dtype);
}

bs_status bs_plan_backward(bs_plan *p)
{
    if (!p->do_bwd) return BS_OK;
    bs_backend *be = p->be;
    bool timed = p->o.time_nodes;
    double total = 0, t0 = now_ms();
    bs_status st;
    memset(p->ginit, 0, (size_t)p->n * sizeof *p->ginit);
    pnode *r = &p->nodes[p->root];
    p->ginit[r->gown] = true;
    if ((st = be->fill(be, r->grad, 1.0, bs_shape_numel(&r->shape), r->dtype)))
        return plan_fail(p, st, "%s: fill failed", be->name);
    if (timed) be->sync(be);
    total += now_ms() - t0;
    for (int s = 0; s < p->nsched; s++) {
        int i = p->sched[s];
        pnode *n = &p->nodes[i];
        if (n->constant || n->folded) continue; /* integer ops; transposes read in place */
        double t1 = 0;
        if (timed) {
            be->sync(be);
            t1 = now_ms();
        }
        st = grad_ready(p, i); /* no path reached it: its gradient is zero */
        if (!st && n->fused_bwd) {
            /* act's VJP and the bias's, one loop: da written, db added */
            pnode *a = &p->nodes[n->fused_add];
            void *db = NULL;
            if (a->vjp_in[1]) {
                st = grad_ready(p, a->in[1]);
                db = p->nodes[a->in[1]].grad;
            }
            p->ginit[a->gown] = true;
            if (!st) st = be->bias_act_vjp(be, &a->ex, &n->ex, n->grad, a->grad, db);
        } else {
            bool bias_done = n->fused_act >= 0 && p->nodes[n->fused_act].fused_bwd;
            bool folds = n->fold_src[0] >= 0 || n->fold_src[1] >= 0;
            for (int k = 0; k < n->nin && !st; k++) {
                if (!n->vjp_in[k] || n->alias_in[k] || (bias_done && k == 1)) continue;
                /* a folded transpose's gradient goes straight to its source */
                int to = n->fold_src[k] >= 0 ? p->nodes[n->fold_src[k]].in[0] : n->in[k];
                st = grad_ready(p, to);
                if (st) break;
                if (folds)
                    st = be->matmul_t_vjp(be, &n->ex, n->fold_src[0] >= 0, n->fold_src[1] >= 0,
                                          fold_operand(p, n, 0), fold_operand(p, n, 1), k,
                                          n->grad, p->nodes[to].grad);
                else
                    st = be->vjp(be, &n->ex, k, n->grad, p->nodes[to].grad);
            }
        }
        if (st) return plan_fail(p, st, "%s VJP failed on %s", bs_ops[n->op].name, be->name);
        if (timed) {
            be->sync(be);
            double ms = now_ms() - t1;
            record(p, n, true, ms);
            total += ms;
        }
    }
    /* params no path reached */
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].grad && (st = grad_ready(p, i)))
            return plan_fail(p, st, "%s: fill failed", be->name);
    if (p->recording) p->bwd_ms[p->steps] = total;
    return BS_OK;
}

bs_status bs_plan_update(bs_plan *p)
{
    if (!p->do_bwd || !p->o.update) return BS_OK;
    bs_backend *be = p->be;
    double t0 = now_ms();
    p->t++;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!n->param || !n->grad) continue;
        bs_status st = be->opt_step(be, &p->o.opt, p->t, n->val, n->grad, n->m, n->v,
                                    bs_shape_numel(&n->shape), n->dtype);
        if (st) return plan_fail(p, st, "optimizer step failed on %s", be->name);
    }
    if (p->o.time_nodes) be->sync(be);
    if (p->recording) p->opt_ms[p->steps] = now_ms() - t0;
    return BS_OK;
}

bs_status bs_plan_step(bs_plan *p, double *loss)
{
    if (!stats_grow(p)) return plan_fail(p, BS_ERR_NOMEM, "out of memory");
    p->recording = true;
    p->fwd_ms[p->steps] = p->bwd_ms[p->steps] = p->opt_ms[p->steps] = 0;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].tf) p->nodes[i].tf[p->steps] = p->nodes[i].tb[p->steps] = 0;
    p->be->sync(p->be);
    double t0 = now_ms();
    bs_status st = bs_plan_forward(p, loss);
    if (!st) st = bs_plan_backward(p);
    if (!st) st = bs_plan_update(p);
    if (!st) st = p->be->sync(p->be);
    p->recording = false;
    if (st) return st;
    p->step_ms[p->steps++] = now_ms() - t0;
    return BS_OK;
}

void bs_plan_reset_stats(bs_plan *p) { p->steps = 0; }

void bs_plan_time_nodes(bs_plan *p, bool on) { p->o.time_nodes = on; }

/* ==== Reading ==== */

static pnode *find(const bs_plan *p, bs_id id)
{
    int lo = 0, hi = p->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (p->nodes[mid].id == id) return &p->nodes[mid];
        if (p->nodes[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const bs_shape *bs_plan_shape(const bs_plan *p, bs_id id)
{
    pnode *n = find(p, id);
    return n && (n->mark & PN_MAIN) ? &n->shape : NULL;
}

/* a folded transpose's value, made now for a reader */
static void materialize(bs_plan *p, pnode *n)
{
    if (!n->folded) return;
    if (!n->val) {
        n->val = n->ex.out = plan_alloc(p, buf_bytes(n));
        if (!n->val) return;
        n->bytes += buf_bytes(n);
    }
    p->be->forward(p->be, &n->ex);
}

bs_status bs_plan_read(bs_plan *p, bs_id id, bool grad, double *dst)
{
    pnode *n = find(p, id);
    if (n && !(n->mark & PN_MAIN)) n = NULL;
    if (n && !grad) materialize(p, n);
    void *b = n ? (grad ? n->grad : n->val) : NULL;
    if (!b) return BS_ERR_ARG;
    return p->be->download(p->be, dst, b, bs_shape_numel(&n->shape), n->dtype);
}

bs_status bs_plan_store_params(bs_plan *p, bs_ctx *c)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        bs_node *t = bs_node_at(c, n->id);
        if (!(n->mark & PN_MAIN)) continue;
        if (!t || !bs_shape_eq(&t->value.shape, &n->shape))
            return plan_fail(p, BS_ERR_SHAPE, "the plan's sizes differ from the tape's");
        /* the grads of the last backward, as PyTorch's loop leaves them: on the params, None
         * elsewhere (each step's graph is a new one) */
        if (!n->param) {
            bs_zero_grad(c, n->id);
            continue;
        }
        if (!n->grad) continue;
        int64_t numel = bs_shape_numel(&n->shape);
        bs__txn_node(c, t);
        bs_status st = p->be->download(p->be, t->value.data, n->val, numel, n->dtype);
        if (!st && !t->grad.data) {
            t->grad.data = bs__data_alloc(c, numel, &t->sgrad);
            t->grad.shape = t->value.shape;
            t->grad.dtype = t->value.dtype;
            if (!t->grad.data) return plan_fail(p, BS_ERR_NOMEM, "out of memory");
        }
        if (!st) st = p->be->download(p->be, t->grad.data, n->grad, numel, n->dtype);
        if (st) return plan_fail(p, st, "%s: download failed", p->be->name);
        bs__round_tensor(&t->value);
        bs__round_tensor(&t->grad);
        t->version++;
    }
    return BS_OK;
}

int bs_plan_schedule(const bs_plan *p, bs_id *ids, int max)
{
    for (int s = 0; s < p->nsched && s < max; s++) ids[s] = p->nodes[p->sched[s]].id;
    return p->nsched;
}

int bs_plan_node_count(const bs_plan *p)
{
    int k = 0;
    for (int i = 0; i < p->n; i++) k += (p->nodes[i].mark & PN_MAIN) != 0;
    return k;
}

void bs_plan_node_get(const bs_plan *p, int idx, bs_plan_node *out)
{
    memset(out, 0, sizeof *out);
    out->node = BS_NONE;
    for (int i = 0; i < p->n; i++) {
        const pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || idx-- > 0) continue;
        out->node = n->id;
        out->shape = n->shape;
        out->dtype = n->dtype;
        out->leaf = n->op == BS_OP_LEAF || n->constant;
        out->has_bwd = p->do_bwd && !out->leaf && n->rg;
        out->resized = n->resized;
        if (n->tf && p->steps) {
            out->fwd_ms = median(n->tf, p->steps);
            out->bwd_ms = out->has_bwd ? median(n->tb, p->steps) : 0;
        }
        out->fwd_flops = out->leaf ? 0 : n->fwd_flops;
        out->bwd_flops = out->has_bwd ? n->bwd_flops : 0;
        out->bytes = n->bytes;
        out->fused_fwd = n->fused_add >= 0;
        out->folded = n->folded;
        out->fused_bwd = n->fused_act >= 0 && p->nodes[n->fused_act].fused_bwd;
        return;
    }
}

void bs_plan_summary_get(const bs_plan *p, bs_plan_summary *s)
{
    memset(s, 0, sizeof *s);
    s->steps = p->steps;
    if (p->steps) {
        s->step_ms = median(p->step_ms, p->steps);
        s->fwd_ms = median(p->fwd_ms, p->steps);
        s->bwd_ms = median(p->bwd_ms, p->steps);
        s->opt_ms = median(p->opt_ms, p->steps);
    }
    for (int i = 0; i < p->n; i++) {
        const pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF || n->constant) {
            if (n->param && n->grad) s->param_elems += bs_shape_numel(&n->shape);
            continue;
        }
        s->fwd_flops += n->fwd_flops;
        if (p->do_bwd && n->rg) s->bwd_flops += n->bwd_flops;
    }
    s->peak_bytes = p->bytes;
    s->backward = p->do_bwd;
}

bs_status bs_plan_shapes(bs_ctx *c, bs_id root, const bs_plan_opts *o, bs_shape *shapes, char *sizes,
                         size_t sizes_len, char *err, size_t errlen)
{
    int32_t len = bs_tape_len(c);
    for (int32_t i = 0; i < len; i++) shapes[i] = bs_node_get(c, i)->value.shape;
    bs_plan *p = plan_build(c, root, NULL, o, false, true, err, errlen);
    if (!p) return BS_ERR_SHAPE;
    for (int i = 0; i < p->n; i++) shapes[p->nodes[i].id] = p->nodes[i].shape;
    if (sizes) bs_plan_sizes(p, sizes, sizes_len);
    bs_plan_free(p);
    return BS_OK;
}

char *bs_plan_sizes(const bs_plan *p, char *buf, size_t len)
{
    size_t l = 0;
    if (!len) return buf;
    buf[0] = 0;
    bool used[BS_MAX_DIMVARS];
    for (int i = 0; i < p->ndim; i++) used[i] = p->dim_used[i] && !p->derived[i];
    for (int i = 0; i < p->ndim; i++) /* a derived size shows as its base */
        if (p->dim_used[i] && p->derived[i] && p->derived[i] - 1 < p->ndim) used[p->derived[i] - 1] = true;
    for (int i = 0; i < p->ndim && l < len; i++) {
        if (!used[i]) continue;
        int w = snprintf(buf + l, len - l, "%s%s=%lld", l ? " " : "", p->dim_name[i],
                         (long long)p->dims[i]);
        if (w < 0) break;
        l += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, len, "its recorded sizes");
    return buf;
}

int bs_plan_fixed(const bs_plan *p, char *buf, size_t len)
{
    int count = 0;
    size_t l = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < p->n; i++) {
        const pnode *n = &p->nodes[i];
        if (!(n->mark & (PN_MAIN | PN_INIT)) || n->op != BS_OP_LEAF || n->init != BS_INIT_DATA ||
            n->shape.ndim == 0)
            continue;
        char sh[64];
        if (l < len) {
            int w = snprintf(buf + l, len - l, "%s%s %s", count ? ", " : "", n->name,
                             bs_shape_str(&n->shape, sh, sizeof sh));
            if (w > 0) l += (size_t)w;
        }
        count++;
    }
    return count;
}

/* ==== Comparing engines (--check) ==== */

/* |x - ref| / max(1, |ref|), NaNs equal to NaNs and different from numbers */
static double diff_of(double x, double r)
{
    if (isnan(x) || isnan(r)) return isnan(x) && isnan(r) ? 0 : INFINITY;
    if (isinf(x) || isinf(r)) return x == r ? 0 : INFINITY;
    return fabs(x - r) / fmax(1.0, fabs(r));
}

static void compare(bs_plan_check_result *res, bs_id id, bool grad, const double *x,
                    const double *r, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = diff_of(x[i], r[i]);
        if (d > m) m = d;
    }
    res->compared++;
    if (m > res->max_diff || res->worst == BS_NONE) {
        res->max_diff = m;
        res->worst = id;
        res->worst_is_grad = grad;
    }
}

/* forward FLOPs of the root's graph at o's sizes (a shapes-only plan); <0 when they do not fit */
static double plan_flops(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o)
{
    bs_plan *p = plan_build(c, root, be, o, false, true, NULL, 0);
    if (!p) return -1;
    double f = 0;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || n->op == BS_OP_LEAF) continue;
        bs_shape in[BS_MAX_INPUTS];
        for (int k = 0; k < n->nin; k++) in[k] = p->nodes[n->in[k]].shape;
        f += bs_ops[n->op].flops(in, &n->shape, &n->attr);
    }
    bs_plan_free(p);
    return f;
}

/* The eager engine on a scratch context: the same graph from the plan's initial leaf values,
 * in f64, one forward and backward; then every value and grad compared with the plan's. */
static bs_status check_eager(bs_plan *p, bs_plan_check_result *res, char *err, size_t errlen)
{
    bs_ctx *e = bs_ctx_new();
    int *eid = calloc((size_t)p->n, sizeof *eid);
    double *buf = NULL;
    bs_status st = BS_OK;
    if (!e || !eid) {
        st = BS_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        eid[i] = BS_NONE;
        if (!(n->mark & PN_MAIN)) continue;
        bs_dtype t = n->tape_dtype == BS_I64 ? BS_I64 : BS_F64;
        bs_id id;
        if (n->op == BS_OP_LEAF || n->constant) {
            id = bs_leaf(e, n->host, &n->shape, t, n->op == BS_OP_LEAF && n->rg);
        } else {
            bs_id in[BS_MAX_INPUTS] = {BS_NONE, BS_NONE, BS_NONE};
            for (int k = 0; k < n->nin; k++) in[k] = eid[n->in[k]];
            bs_ctx_set_no_grad(e, n->no_grad);
            id = bs_apply(e, n->op, in, &n->attr);
            bs_ctx_set_no_grad(e, false);
        }
        if (id < 0) {
            st = bs_errcode(e);
            snprintf(err, errlen, "the eager engine: %s", bs_errmsg(e));
            goto done;
        }
        eid[i] = id;
    }
    pnode *r = &p->nodes[p->root];
    if (p->do_bwd) {
        int64_t rn = bs_shape_numel(&r->shape);
        double *ones = malloc((size_t)(rn ? rn : 1) * sizeof(double));
        if (!ones) {
            st = BS_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < rn; i++) ones[i] = 1;
        bs_tensor seed = {BS_F64, r->shape, ones};
        st = bs_backward(e, eid[p->root], rn == 1 ? NULL : &seed, false);
        free(ones);
        if (st) {
            snprintf(err, errlen, "the eager engine: %s", bs_errmsg(e));
            goto done;
        }
    }
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN)) continue;
        const bs_node *en = bs_node_get(e, eid[i]);
        int64_t numel = bs_shape_numel(&n->shape);
        free(buf);
        buf = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        if (!buf) {
            st = BS_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        materialize(p, n);
        if (!p->be->download(p->be, buf, n->val, numel, n->dtype))
            compare(res, n->id, false, buf, en->value.data, numel);
        if (n->grad && en->grad.data && !p->be->download(p->be, buf, n->grad, numel, n->dtype))
            compare(res, n->id, true, buf, en->grad.data, numel);
    }
done:
    free(buf);
    free(eid);
    bs_ctx_free(e);
    return st;
}

static bs_status check_other(bs_plan *p, bs_plan *q, bs_plan_check_result *res)
{
    double *a = NULL, *b = NULL;
    bs_status st = BS_OK;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i], *m = &q->nodes[i];
        if (!(n->mark & PN_MAIN)) continue;
        int64_t numel = bs_shape_numel(&n->shape);
        free(a);
        free(b);
        a = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        b = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        if (!a || !b) {
            st = BS_ERR_NOMEM;
            break;
        }
        materialize(p, n);
        materialize(q, m);
        if (!p->be->download(p->be, a, n->val, numel, n->dtype) &&
            !q->be->download(q->be, b, m->val, numel, m->dtype))
            compare(res, n->id, false, a, b, numel);
        if (n->grad && m->grad && !p->be->download(p->be, a, n->grad, numel, n->dtype) &&
            !q->be->download(q->be, b, m->grad, numel, m->dtype))
            compare(res, n->id, true, a, b, numel);
    }
    free(a);
    free(b);
    return st;
}

bs_status bs_plan_check(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o,
                        bs_backend *other, double budget_flops, bs_plan_check_result *res,
                        char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->worst = BS_NONE;
    bs_plan_opts co = *o;
    co.update = false;
    co.time_nodes = false;
    /* every size variable the graph uses, at o's values, halved until the forward fits */
    bs_plan *shp = plan_build(c, root, be, o, false, true, err, errlen);
    if (!shp) return BS_ERR_SHAPE;
    co.nbind = 0;
    for (int d = 0; d < shp->ndim && co.nbind < BS_PLAN_MAX_BIND; d++) {
        if (!shp->dim_used[d]) continue;
        co.bind_dim[co.nbind] = d;
        co.bind_value[co.nbind++] = shp->dims[d];
    }
    bs_plan_free(shp);
    double f = plan_flops(c, root, be, &co);
    for (int tries = 0; budget_flops > 0 && f > budget_flops && tries < 40; tries++) {
        bs_plan_opts smaller = co;
        bool changed = false;
        for (int b = 0; b < smaller.nbind; b++)
            if (smaller.bind_value[b] > 1) {
                smaller.bind_value[b] = (smaller.bind_value[b] + 1) / 2;
                changed = true;
            }
        double fs = changed ? plan_flops(c, root, be, &smaller) : -1;
        if (fs < 0) break;
        co = smaller;
        f = fs;
        res->reduced = true;
    }
    bs_plan *p = plan_build(c, root, be, &co, true, false, err, errlen);
    if (!p) return BS_ERR_SHAPE;
    bs_plan_sizes(p, res->sizes, sizeof res->sizes);
    bs_status st = bs_plan_forward(p, NULL);
    if (!st) st = bs_plan_backward(p);
    if (st) {
        snprintf(err, errlen, "%s", p->err);
        bs_plan_free(p);
        return st;
    }
    if (!other) {
        snprintf(res->other, sizeof res->other, "the eager engine (f64)");
        st = check_eager(p, res, err, errlen);
        bs_plan_free(p);
        return st;
    }
    /* the other backend: f64 where it has it, the reference of the two */
    bs_plan_opts qo = co;
    qo.dtype = other->supports_dtype(other, BS_F64) ? BS_F64 : BS_F32;
    snprintf(res->other, sizeof res->other, "%s (%s)", other->name, bs_dtype_name(qo.dtype));
    bs_plan *q = plan_build(c, root, other, &qo, false, false, err, errlen);
    if (!q) {
        bs_plan_free(p);
        return BS_ERR_UNSUPPORTED;
    }
    st = bs_plan_forward(q, NULL);
    if (!st) st = bs_plan_backward(q);
    if (st)
        snprintf(err, errlen, "%s", q->err);
    else
        st = check_other(p, q, res);
    bs_plan_free(q);
    bs_plan_free(p);
    return st;
}
