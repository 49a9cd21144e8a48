/* core/plan.c: building replay plans: the part of the tape a root depends on, rebound to new
 * sizes, every shape inferred again, leaves initialised again, buffers allocated once on a
 * backend, transposes folded and bias + activation pairs fused where the backend can. Running is
 * plan_run.c, comparing engines plan_check.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"
#include "plan_int.h"

/* ==== Small helpers ==== */

bs_status bs__plan_fail(bs_plan *p, bs_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return st;
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
                bs__plan_fail(p, BS_ERR_SHAPE, "cannot replay at %s: %s fails: %s", sizes, what,
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
            bs__plan_fail(p, BS_ERR_NOMEM, "%s", bs_errmsg(c));
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
        if (!r) return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
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
    case BS_INIT_ARANGE: ops_lp_arange(n->tape_dtype, n->init_arg[0], n->init_arg[1], numel, d); break;
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
        return bs__plan_fail(p, BS_ERR_SHAPE, "%s is literal data and replays only at its own size",
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
        if (!n->host) return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory for initial values");
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
                return bs__plan_fail(p, st, "%s (%s): %s", tape_name(c, n->id, nm, sizeof nm),
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

void *bs__plan_alloc(bs_plan *p, size_t bytes)
{
    if (!bytes) bytes = 8;
    void *b = p->be->alloc(p->be, bytes);
    if (b) p->bytes += bytes;
    return b;
}

/* Checkpoints: a node made inside one whose every consumer is inside it too (not its outputs,
 * which the next part of the graph reads) is scratch: its value and grad live in one buffer all
 * checkpoints share, since only one checkpoint's inside is alive at a time (the forward passes
 * through each once; backward makes one's inside again, runs its VJPs, and moves to the next). */
static void mark_scratch(bs_plan *p, bs_ctx *c)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        n->ckpt = (n->mark & PN_MAIN) ? bs__ckpt_of(c, bs__node(c, n->id)) : 0;
        n->scratch = n->ckpt && n->op != BS_OP_LEAF && !n->constant && !n->folded && !n->need_fval &&
                     !n->host && !n->param && i != p->root;
    }
    for (int i = 0; i < p->n; i++) { /* a consumer outside (or a folded transpose's matmul) */
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN)) continue;
        for (int k = 0; k < n->nin; k++) {
            pnode *x = &p->nodes[n->in[k]];
            if (x->scratch && (n->ckpt != x->ckpt || !n->scratch)) x->scratch = false;
        }
    }
    int32_t last = 0;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].scratch && p->nodes[i].ckpt != last) {
            last = p->nodes[i].ckpt;
            p->nckpt++;
        }
}

/* the scratch nodes' places in the shared buffer: each checkpoint's from offset 0 */
static bs_status alloc_scratch(bs_plan *p)
{
    size_t *off = calloc((size_t)p->n, sizeof *off), at = 0, top = 0;
    if (!off) return BS_ERR_NOMEM;
    int32_t cur = 0;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!n->scratch) continue;
        if (n->ckpt != cur) {
            cur = n->ckpt;
            at = 0;
        }
        off[i] = at;
        at += (buf_bytes(n) + 63) & ~(size_t)63;
        if (n->rg) at += (buf_bytes(n) + 63) & ~(size_t)63;
        if (at > top) top = at;
    }
    if (top) {
        p->ckbuf = bs__plan_alloc(p, top);
        if (!p->ckbuf) {
            free(off);
            return BS_ERR_NOMEM;
        }
        p->ckbytes = top;
    }
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!n->scratch) continue;
        n->val = (char *)p->ckbuf + off[i];
        n->bytes = buf_bytes(n);
        if (n->rg) {
            n->grad = (char *)n->val + ((buf_bytes(n) + 63) & ~(size_t)63);
            n->bytes += buf_bytes(n);
        }
    }
    free(off);
    return BS_OK;
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
        if (n->scratch) continue; /* alloc_scratch */
        n->val = bs__plan_alloc(p, b);
        if (!n->val) goto nomem;
        n->bytes = b;
        if (p->do_bwd && n->param && n->rg) {
            if (need_m) {
                if (!(n->m = bs__plan_alloc(p, b))) goto nomem;
                be->fill(be, n->m, 0, numel, n->dtype);
                n->bytes += b;
            }
            if (need_v) {
                if (!(n->v = bs__plan_alloc(p, b))) goto nomem;
                be->fill(be, n->v, 0, numel, n->dtype);
                n->bytes += b;
            }
        }
        if (n->need_fval) {
            if (!(n->fval = bs__plan_alloc(p, (size_t)numel * elem_size(p->o.dtype)))) goto nomem;
            n->bytes += (size_t)numel * elem_size(p->o.dtype);
            bs_status st = be->upload(be, n->fval, n->host, numel, p->o.dtype);
            if (st) return bs__plan_fail(p, st, "%s: upload failed", be->name);
        }
        if (n->host) {
            bs_status st = be->upload(be, n->val, n->host, numel, n->dtype);
            if (st) return bs__plan_fail(p, st, "%s: upload failed", be->name);
            if (!p->keep_host) {
                free(n->host);
                n->host = NULL;
            }
        }
    }
    /* grads, from the root down: a node whose only gradient is passed through unchanged by its
     * one consumer (x in x + b of x's shape, x - b, reshape(x)) shares that consumer's buffer */
    if (alloc_scratch(p)) goto nomem;
    if (!p->do_bwd) return BS_OK;
    int *nvjp = calloc((size_t)p->n, sizeof *nvjp);
    if (!nvjp) goto nomem;
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->nodes[i].nin; k++)
            if (p->nodes[i].vjp_in[k]) nvjp[p->nodes[i].in[k]]++;
    for (int i = p->n - 1; i >= 0; i--) {
        pnode *n = &p->nodes[i];
        if (!(n->mark & PN_MAIN) || !n->rg || n->folded) continue;
        if (n->scratch) {
            n->gown = i; /* its grad is in the shared buffer (alloc_scratch) */
        } else if (n->gown == i) {
            n->grad = bs__plan_alloc(p, buf_bytes(n));
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
                !n->scratch && !x->scratch &&
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
    return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory on %s after %s of buffers", be->name, sz);
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

bs_plan *bs__plan_build(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o,
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
            st = bs__plan_fail(p, BS_ERR_ARG, "a size must be a size variable bound to at least 1");
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
        st = bs__plan_fail(p, BS_ERR_UNSUPPORTED, "the %s backend has no %s (try dtype=f32)",
                       be ? be->name : "replay", bs_dtype_name(o->dtype));
        goto fail;
    }

    /* nodes */
    unsigned *mark = calloc((size_t)root + 1, sizeof *mark);
    int *of = malloc(((size_t)root + 1) * sizeof *of);
    if (!mark || !of) {
        free(mark);
        free(of);
        st = bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    p->n = mark_nodes(c, root, mark);
    p->nodes = calloc((size_t)p->n, sizeof *p->nodes);
    if (!p->nodes) {
        free(mark);
        free(of);
        st = bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
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
            st = bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        free(pm);
        p->sched = malloc(((size_t)sc.nstep + 1) * sizeof *p->sched);
        for (int32_t j = 0; p->sched && j < sc.nstep; j++) p->sched[p->nsched++] = of[sc.step[j]];
        bs__sched_free(&sc);
        if (!p->sched) {
            free(of);
            st = bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
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
            st = bs__plan_fail(p, BS_ERR_ARG,
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
            st = bs__plan_fail(p, BS_ERR_UNSUPPORTED, "the %s backend has no %s in %s (%s)", be->name,
                           bs_ops[n->op].name, bs_dtype_name(o->dtype),
                           tape_name(c, n->id, nm, sizeof nm));
            goto fail;
        }
    }
    if ((st = host_values(p, c))) goto fail;
    mark_float_uses(p);
    find_folds(p);
    if (!o->no_checkpoint && p->do_bwd) mark_scratch(p, c);
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
    return bs__plan_build(c, root, be, o, false, false, err, errlen);
}

void bs_plan_free(bs_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        void *bufs[5] = {n->scratch ? NULL : n->val, n->gown == i && !n->scratch ? n->grad : NULL, n->m, n->v,
                         n->fval};
        for (int j = 0; j < 5; j++)
            if (bufs[j]) p->be->free(p->be, bufs[j]);
        free(n->host);
        free(n->tf);
        free(n->tb);
    }
    if (p->ckbuf) p->be->free(p->be, p->ckbuf);
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

