/* core/plan_run.c: running replay plans (forward, backward, the optimizer's update, each node
 * timed when asked) and reading their values, grads and summary back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

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
    if (!buf) return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
    bs_status st = p->be->download(p->be, buf, r->val, numel, r->dtype);
    double s = 0;
    for (int64_t i = 0; i < numel; i++) s += buf[i];
    if (buf != &one) free(buf);
    if (st) return bs__plan_fail(p, st, "%s: download failed", p->be->name);
    *loss = s;
    return BS_OK;
}

/* what a matmul reads for input k: the transpose's source when it is folded */
static const void *fold_operand(bs_plan *p, const pnode *n, int k)
{
    int t = n->fold_src[k];
    return t >= 0 ? p->nodes[p->nodes[t].in[0]].val : n->ex.in[k];
}

/* one node's forward (a fused pair's both) */
static bs_status node_forward(bs_plan *p, pnode *n)
{
    bs_backend *be = p->be;
    bs_status st;
    if (n->fused_act >= 0)
        st = be->bias_act_fwd(be, &n->ex, &p->nodes[n->fused_act].ex);
    else if (n->fold_src[0] >= 0 || n->fold_src[1] >= 0)
        st = be->matmul_t_fwd(be, &n->ex, n->fold_src[0] >= 0, n->fold_src[1] >= 0,
                              fold_operand(p, n, 0), fold_operand(p, n, 1));
    else
        st = be->forward(be, &n->ex);
    if (st)
        return bs__plan_fail(p, st, "%s forward failed on %s%s", bs_ops[n->op].name, be->name,
                             st == BS_ERR_VALUE ? ": a value outside the op's domain (a class "
                                                  "index out of range, a probability outside [0, 1])"
                                                : "");
    return BS_OK;
}

static bool runs_forward(const pnode *n)
{
    return (n->mark & PN_MAIN) && n->op != BS_OP_LEAF && !n->constant && n->fused_add < 0 && !n->folded;
}

/* backward reached checkpoint k: the values inside it, freed since the forward (the shared
   buffer holds another checkpoint's now), are made again */
static bs_status recompute(bs_plan *p, int32_t k)
{
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (n->ckpt != k || !runs_forward(n)) continue;
        if (!n->scratch && !(n->fused_act >= 0 && p->nodes[n->fused_act].scratch)) continue;
        bs_status st = node_forward(p, n);
        if (st) return st;
    }
    return BS_OK;
}

bs_status bs_plan_forward(bs_plan *p, double *loss)
{
    bs_backend *be = p->be;
    bool timed = p->o.time_nodes;
    double total = 0;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!runs_forward(n)) continue;
        double t0 = 0;
        if (timed) {
            be->sync(be);
            t0 = bs__now_ms();
        }
        bs_status st = node_forward(p, n);
        if (st) return st;
        if (timed) {
            be->sync(be);
            double ms = bs__now_ms() - t0;
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
    double total = 0, t0 = bs__now_ms();
    bs_status st;
    memset(p->ginit, 0, (size_t)p->n * sizeof *p->ginit);
    pnode *r = &p->nodes[p->root];
    p->ginit[r->gown] = true;
    if ((st = be->fill(be, r->grad, 1.0, bs_shape_numel(&r->shape), r->dtype)))
        return bs__plan_fail(p, st, "%s: fill failed", be->name);
    if (timed) be->sync(be);
    total += bs__now_ms() - t0;
    int32_t ck = 0;
    for (int s = 0; s < p->nsched; s++) {
        int i = p->sched[s];
        pnode *n = &p->nodes[i];
        if (p->ckbuf && n->ckpt != ck) { /* the first step into a checkpoint */
            ck = n->ckpt;
            double t1 = timed ? (be->sync(be), bs__now_ms()) : 0;
            if (ck && (st = recompute(p, ck))) return st;
            if (timed) {
                be->sync(be);
                total += bs__now_ms() - t1; /* the backward's time includes it */
            }
        }
        if (n->constant || n->folded) continue; /* integer ops; transposes read in place */
        double t1 = 0;
        if (timed) {
            be->sync(be);
            t1 = bs__now_ms();
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
        if (st) return bs__plan_fail(p, st, "%s VJP failed on %s", bs_ops[n->op].name, be->name);
        if (timed) {
            be->sync(be);
            double ms = bs__now_ms() - t1;
            record(p, n, true, ms);
            total += ms;
        }
    }
    /* params no path reached */
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].grad && !p->nodes[i].scratch && (st = grad_ready(p, i)))
            return bs__plan_fail(p, st, "%s: fill failed", be->name);
    if (p->recording) p->bwd_ms[p->steps] = total;
    return BS_OK;
}

bs_status bs_plan_update(bs_plan *p)
{
    if (!p->do_bwd || !p->o.update) return BS_OK;
    bs_backend *be = p->be;
    double t0 = bs__now_ms();
    p->t++;
    for (int i = 0; i < p->n; i++) {
        pnode *n = &p->nodes[i];
        if (!n->param || !n->grad) continue;
        bs_status st = be->opt_step(be, &p->o.opt, p->t, n->val, n->grad, n->m, n->v,
                                    bs_shape_numel(&n->shape), n->dtype);
        if (st) return bs__plan_fail(p, st, "optimizer step failed on %s", be->name);
    }
    if (p->o.time_nodes) be->sync(be);
    if (p->recording) p->opt_ms[p->steps] = bs__now_ms() - t0;
    return BS_OK;
}

bs_status bs_plan_step(bs_plan *p, double *loss)
{
    if (!stats_grow(p)) return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
    p->recording = true;
    p->fwd_ms[p->steps] = p->bwd_ms[p->steps] = p->opt_ms[p->steps] = 0;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i].tf) p->nodes[i].tf[p->steps] = p->nodes[i].tb[p->steps] = 0;
    p->be->sync(p->be);
    double t0 = bs__now_ms();
    bs_status st = bs_plan_forward(p, loss);
    if (!st) st = bs_plan_backward(p);
    if (!st) st = bs_plan_update(p);
    if (!st) st = p->be->sync(p->be);
    p->recording = false;
    if (st) return st;
    p->step_ms[p->steps++] = bs__now_ms() - t0;
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
void bs__plan_materialize(bs_plan *p, pnode *n)
{
    if (!n->folded) return;
    if (!n->val) {
        n->val = n->ex.out = bs__plan_alloc(p, buf_bytes(n));
        if (!n->val) return;
        n->bytes += buf_bytes(n);
    }
    p->be->forward(p->be, &n->ex);
}

bs_status bs_plan_read(bs_plan *p, bs_id id, bool grad, double *dst)
{
    pnode *n = find(p, id);
    if (n && !(n->mark & PN_MAIN)) n = NULL;
    if (n && !grad) bs__plan_materialize(p, n);
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
            return bs__plan_fail(p, BS_ERR_SHAPE, "the plan's sizes differ from the tape's");
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
            if (!t->grad.data) return bs__plan_fail(p, BS_ERR_NOMEM, "out of memory");
        }
        if (!st) st = p->be->download(p->be, t->grad.data, n->grad, numel, n->dtype);
        if (st) return bs__plan_fail(p, st, "%s: download failed", p->be->name);
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
    s->checkpoints = p->nckpt;
    s->ckpt_bytes = p->ckbytes;
    for (int i = 0; p->ckbuf && i < p->n; i++) {
        const pnode *n = &p->nodes[i];
        bool pair = n->fused_act >= 0 && p->nodes[n->fused_act].scratch;
        if (n->ckpt && runs_forward(n) && (n->scratch || pair))
            s->recompute_flops += n->fwd_flops + (pair ? p->nodes[n->fused_act].fwd_flops : 0);
    }
}

bs_status bs_plan_shapes(bs_ctx *c, bs_id root, const bs_plan_opts *o, bs_shape *shapes, char *sizes,
                         size_t sizes_len, char *err, size_t errlen)
{
    int32_t len = bs_tape_len(c);
    for (int32_t i = 0; i < len; i++) shapes[i] = bs_node_get(c, i)->value.shape;
    bs_plan *p = bs__plan_build(c, root, NULL, o, false, true, err, errlen);
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

