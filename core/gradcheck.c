/* core/gradcheck.c: re-evaluating the tape, numerical gradient checks by central differences, and
 * forward-mode (JVP) sweeps through the same op table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ==== Recompute ==== */

bs_status bs_recompute(bs_ctx *c, bs_id upto)
{
    if (upto >= c->len) upto = c->len - 1;
    for (bs_id i = 0; i <= upto; i++) {
        bs_node *n = bs__node(c, i);
        if (n->op == BS_OP_LEAF || !n->requires_grad) continue;
        bs_status st = bs__node_forward(c, n, n->value.data);
        if (st) return st;
    }
    return BS_OK;
}

/* ==== Gradcheck ==== */

static double root_value(bs_ctx *c, bs_id root)
{
    const bs_node *r = bs__node(c, root);
    double s = 0;
    int64_t n = bs_shape_numel(&r->value.shape);
    for (int64_t i = 0; i < n; i++) s += r->value.data[i];
    return s;
}

/* a failed check: put the values (recomputed from root, unless BS_NONE) and the grads back,
   keeping the reason for the failure, which the recompute would clear */
static int fail_restore(bs_ctx *c, bs_grad_snapshot *snap, bs_id root)
{
    bs_status code = c->code;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", bs_errmsg(c));
    if (root != BS_NONE) bs_recompute(c, root);
    bs_grad_snapshot_restore(c, snap);
    bs__err(c, code, "%s", msg);
    return -1;
}

int bs_gradcheck(bs_ctx *c, bs_id root, double eps, bs_gradcheck_result *res, int max)
{
    bs_node *r = bs_node_at(c, root);
    if (!r) {
        bs__err(c, BS_ERR_ARG, "gradcheck: no such node");
        return -1;
    }
    if (!r->requires_grad) {
        bs__err(c, BS_ERR_STATE, "gradcheck: nothing that %s depends on requires grad",
                r->label ? r->label : "the root");
        return -1;
    }
    /* analytic: one backward pass of a ones seed into fresh grads, then restore */
    bs_grad_snapshot *snap = bs_grad_snapshot_take(c);
    if (!snap) {
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (bs_id i = 0; i <= root; i++) bs_zero_grad(c, i);
    int64_t rn = bs_shape_numel(&r->value.shape);
    double *ones = malloc((size_t)(rn ? rn : 1) * sizeof(double));
    if (!ones) {
        bs_grad_snapshot_restore(c, snap);
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < rn; i++) ones[i] = 1;
    bs_tensor seed = {r->value.dtype, r->value.shape, ones};
    bs_bwd *b = bs__backward_begin(c, root, &seed, true, false, false);
    free(ones);
    if (!b) {
        bs_grad_snapshot_restore(c, snap);
        return -1;
    }
    int more;
    while ((more = bs_backward_next(b, NULL)) > 0) {}
    bs_backward_end(b);
    if (more < 0) return fail_restore(c, snap, BS_NONE); /* interrupted in the analytic pass */

    /* the params root depends on: those that got a gradient */
    int count = 0;
    bs_status st = BS_OK;
    for (bs_id p = 0; p <= root && st == BS_OK; p++) {
        bs_node *n = bs__node(c, p);
        if (!n->is_leaf || !n->requires_grad || !n->grad.data) continue;
        int64_t numel = bs_shape_numel(&n->value.shape);
        double *analytic = malloc((size_t)numel * sizeof(double));
        if (!analytic) {
            st = bs__err(c, BS_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(analytic, n->grad.data, (size_t)numel * sizeof(double));
        bs_gradcheck_result g = {p, 0, 0, 0, 0, 0};
        /* large params: check a strided sample of at most 4096 entries */
        int64_t stride = numel > 4096 ? numel / 4096 : 1;
        for (int64_t j = 0; j < numel && st == BS_OK; j += stride) {
            if (c->interrupted) {
                c->interrupted = 0;
                st = bs__err(c, BS_ERR_INTERRUPT, "interrupted");
                break;
            }
            double orig = n->value.data[j];
            n->value.data[j] = orig + eps;
            st = bs_recompute(c, root);
            double fp = root_value(c, root);
            n->value.data[j] = orig - eps;
            if (!st) st = bs_recompute(c, root);
            double fm = root_value(c, root);
            n->value.data[j] = orig;
            double num = (fp - fm) / (2 * eps);
            double err = fabs(num - analytic[j]);
            double rel = err / fmax(1e-8, fmax(fabs(num), fabs(analytic[j])));
            if (err > g.max_abs_err || j == 0) {
                g.max_abs_err = err;
                g.worst_index = j;
                g.analytic = analytic[j];
                g.numeric = num;
            }
            if (rel > g.max_rel_err) g.max_rel_err = rel;
        }
        free(analytic);
        if (count < max && res) res[count] = g;
        count++;
    }
    if (st) return fail_restore(c, snap, root);
    bs_status st2 = bs_recompute(c, root);
    bs_grad_snapshot_restore(c, snap);
    if (st2) return -1;
    return count;
}

/* ==== Forward mode ==== */

bs_status bs_jvp(bs_ctx *c, bs_id wrt, const bs_tensor *dir, bs_id upto, bs_jvp_visit visit, void *ud)
{
    bs_node *w = bs_node_at(c, wrt);
    if (!w) return bs__err(c, BS_ERR_ARG, "jvp: no such node");
    if (upto < wrt || upto >= c->len) upto = c->len - 1;
    int64_t wn = bs_shape_numel(&w->value.shape);
    if (dir && !bs_shape_eq(&dir->shape, &w->value.shape))
        return bs__err(c, BS_ERR_SHAPE, "jvp: the direction must have the shape of the input");
    int32_t span = upto - wrt + 1;
    double **tan = calloc((size_t)span, sizeof *tan);
    if (!tan) return bs__err(c, BS_ERR_NOMEM, "out of memory");
    bs_status st = BS_OK;
    tan[0] = malloc((size_t)(wn ? wn : 1) * sizeof(double));
    if (!tan[0]) {
        st = bs__err(c, BS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t j = 0; j < wn; j++) tan[0][j] = dir ? dir->data[j] : 1.0;
    bs_tensor t0 = {w->value.dtype, w->value.shape, tan[0]};
    if (visit) visit(ud, wrt, &t0);
    for (bs_id i = wrt + 1; i <= upto; i++) {
        bs_node *n = bs__node(c, i);
        if (n->op == BS_OP_LEAF || !n->requires_grad) continue;
        bs_tensor din[BS_MAX_INPUTS];
        bool any = false;
        for (int k = 0; k < n->nin; k++) {
            bs_node *x = bs__node(c, n->in[k]);
            din[k] = (bs_tensor){x->value.dtype, x->value.shape, NULL};
            if (n->in[k] >= wrt && tan[n->in[k] - wrt] && bs_ops[n->op].deriv[k]) {
                din[k].data = tan[n->in[k] - wrt];
                any = true;
            }
        }
        if (!any) continue;
        int64_t numel = bs_shape_numel(&n->value.shape);
        tan[i - wrt] = calloc((size_t)(numel ? numel : 1), sizeof(double));
        if (!tan[i - wrt]) {
            st = bs__err(c, BS_ERR_NOMEM, "out of memory");
            goto done;
        }
        bs_tensor in[BS_MAX_INPUTS];
        bs__inputs(c, n, in);
        bs_tensor dout = {n->value.dtype, n->value.shape, tan[i - wrt]};
        bs_ops[n->op].jvp(in, &n->value, &n->attr, din, &dout);
        bs__round_tensor(&dout);
        if (visit) visit(ud, i, &dout);
    }
done:
    for (int32_t i = 0; i < span; i++) free(tan[i]);
    free(tan);
    return st;
}
