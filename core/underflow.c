/* core/underflow.c: gradients that underflowed to zero in a low-precision dtype (:underflow, and
 * the stepper's mark). A gradient entry underflowed when it is 0 in its node's dtype but not in
 * exact arithmetic: the same backward pass recomputed in double, from the same values, every
 * VJP unrounded. Two sweeps from the root, side by side: one as the engine runs it (each VJP in
 * the node's dtype, rounded, accumulated in the input's dtype), one in double. Nothing on the
 * tape changes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

static bool has_grad_fn(const bs_node *n) { return n->requires_grad && !n->is_leaf; }

/* the VJP of input k of n for upstream g (values of dtype `dt`, or all read as f64), into d */
static void vjp_as(const bs_ctx *c, const bs_node *n, int k, const double *g, bool exact, double *d)
{
    bs_tensor in[BS_MAX_INPUTS], val = n->value;
    bs__inputs(c, n, in);
    const bs_node *x = bs__node(c, n->in[k]);
    bs_dtype dt = exact ? BS_F64 : n->value.dtype;
    if (exact) {
        for (int i = 0; i < n->nin; i++)
            if (in[i].dtype != BS_I64) in[i].dtype = BS_F64;
        val.dtype = BS_F64;
    }
    bs_tensor gt = {dt, n->value.shape, (double *)g}, din = {dt, x->value.shape, d};
    bs_ops[n->op].vjp(in, &val, &n->attr, &gt, k, &din);
}

static void round_to(bs_dtype t, double *v, int64_t n)
{
    if (t == BS_F64 || t == BS_I64) return;
    for (int64_t j = 0; j < n; j++) v[j] = bs_dtype_round(t, v[j]);
}

int bs_underflow(bs_ctx *c, bs_id root, bs_underflow_row *rows, int max)
{
    const bs_node *r = bs_node_get(c, root);
    if (!r || !r->requires_grad) {
        bs__err(c, BS_ERR_STATE, "no backward pass from there: it does not require grad");
        return -1;
    }
    int32_t len = root + 1;
    double **lo = calloc((size_t)len, sizeof *lo), **ex = calloc((size_t)len, sizeof *ex);
    double *tmp = NULL;
    int nrows = -1;
    if (!lo || !ex) goto nomem;
    int64_t rn = bs_shape_numel(&r->value.shape), big = 1;
    lo[root] = malloc(sizeof(double) * (size_t)(rn ? rn : 1));
    ex[root] = malloc(sizeof(double) * (size_t)(rn ? rn : 1));
    if (!lo[root] || !ex[root]) goto nomem;
    for (int64_t j = 0; j < rn; j++) lo[root][j] = ex[root][j] = 1.0; /* backward()'s seed */
    for (int32_t i = 0; i < len; i++) {
        int64_t m = bs_shape_numel(&bs__node(c, i)->value.shape);
        if (m > big) big = m;
    }
    tmp = malloc(sizeof(double) * (size_t)big);
    if (!tmp) goto nomem;
    for (int32_t i = root; i >= 0; i--) {
        const bs_node *n = bs__node(c, i);
        if (!lo[i] || !has_grad_fn(n)) continue;
        for (int k = 0; k < n->nin; k++) {
            const bs_node *x = bs__node(c, n->in[k]);
            if (!x->requires_grad || !bs_ops[n->op].deriv[k]) continue;
            int64_t xn = bs_shape_numel(&x->value.shape);
            bs_id xi = n->in[k];
            if (!lo[xi]) {
                lo[xi] = calloc((size_t)(xn ? xn : 1), sizeof(double));
                ex[xi] = calloc((size_t)(xn ? xn : 1), sizeof(double));
                if (!lo[xi] || !ex[xi]) goto nomem;
            }
            memset(tmp, 0, sizeof(double) * (size_t)xn);
            vjp_as(c, n, k, lo[i], false, tmp);
            round_to(n->value.dtype, tmp, xn); /* the VJP's tensor, in the node's dtype */
            if (x->value.dtype != n->value.dtype) round_to(x->value.dtype, tmp, xn);
            for (int64_t j = 0; j < xn; j++) lo[xi][j] += tmp[j];
            round_to(x->value.dtype, lo[xi], xn);
            memset(tmp, 0, sizeof(double) * (size_t)xn);
            vjp_as(c, n, k, ex[i], true, tmp);
            for (int64_t j = 0; j < xn; j++) ex[xi][j] += tmp[j];
        }
    }
    nrows = 0;
    for (int32_t i = 0; i < len; i++) {
        const bs_node *n = bs__node(c, i);
        if (!lo[i] || n->value.dtype == BS_F64 || n->value.dtype == BS_I64) continue;
        bs_underflow_row row = {i, n->value.dtype, bs_shape_numel(&n->value.shape), 0, 0, 0.0};
        for (int64_t j = 0; j < row.numel; j++) {
            if (lo[i][j] == 0.0) row.zero++;
            if (lo[i][j] == 0.0 && ex[i][j] != 0.0) {
                row.underflowed++;
                if (fabs(ex[i][j]) > row.largest_lost) row.largest_lost = fabs(ex[i][j]);
            }
        }
        if (nrows < max && rows) rows[nrows] = row;
        nrows++;
    }
    goto done;
nomem:
    bs__err(c, BS_ERR_NOMEM, "out of memory");
    nrows = -1;
done:
    for (int32_t i = 0; lo && ex && i < len; i++) {
        free(lo[i]);
        free(ex[i]);
    }
    free(lo);
    free(ex);
    free(tmp);
    return nrows;
}

int64_t bs_step_underflow(const bs_ctx *c, const bs_step *st, int k)
{
    const bs_node *n = bs_node_get((bs_ctx *)c, st->node);
    if (!n || k < 0 || k >= n->nin || !st->in[k].gets_grad || !st->in[k].vjp.data) return 0;
    const bs_node *x = bs__node(c, n->in[k]);
    bs_dtype xt = x->value.dtype;
    if (xt == BS_F64 || xt == BS_I64) return 0;
    int64_t xn = bs_shape_numel(&x->value.shape), cnt = 0;
    double *d = calloc((size_t)(xn ? xn : 1), sizeof(double));
    if (!d) return 0;
    vjp_as(c, n, k, st->upstream.data, true, d);
    for (int64_t j = 0; j < xn; j++) cnt += st->in[k].vjp.data[j] == 0.0 && d[j] != 0.0;
    free(d);
    return cnt;
}
