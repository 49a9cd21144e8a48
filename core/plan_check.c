/* core/plan_check.c: comparing engines (:run --check): a plan against the eager engine in f64,
 * or against another backend's plan, every value and grad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

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
    bs_plan *p = bs__plan_build(c, root, be, o, false, true, NULL, 0);
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
        if (!(n->mark & PN_MAIN) || n->scratch) continue; /* a checkpoint's inside: not kept */
        const bs_node *en = bs_node_get(e, eid[i]);
        int64_t numel = bs_shape_numel(&n->shape);
        free(buf);
        buf = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        if (!buf) {
            st = BS_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        bs__plan_materialize(p, n);
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
        if (!(n->mark & PN_MAIN) || n->scratch || m->scratch) continue;
        int64_t numel = bs_shape_numel(&n->shape);
        free(a);
        free(b);
        a = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        b = malloc((size_t)(numel ? numel : 1) * sizeof(double));
        if (!a || !b) {
            st = BS_ERR_NOMEM;
            break;
        }
        bs__plan_materialize(p, n);
        bs__plan_materialize(q, m);
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
    bs_plan *shp = bs__plan_build(c, root, be, o, false, true, err, errlen);
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
    bs_plan *p = bs__plan_build(c, root, be, &co, true, false, err, errlen);
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
    bs_plan *q = bs__plan_build(c, root, other, &qo, false, false, err, errlen);
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
