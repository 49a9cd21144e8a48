/* core/ops_row.c: row-wise ops (softmax, log_softmax, layernorm) and the mean-reduced losses (mse,
 * bce, bce_with_logits, cross_entropy): forward, VJP, JVP, with PyTorch's shape rules and error
 * text. A "row" is the 1-D slice along one dim: (outer, len, inner) with stride inner. */
#include "ops_int.h"

#include <math.h>
#include <string.h>

/* ==== Rows ==== */
typedef struct {
    int64_t outer, len, inner;
} row_layout;

/* the dim a row op works along: attr.dim (default -1; BS_DIM_ALL is taken as -1) */
static int row_dim_attr(const bs_attr *a)
{
    return (!a || a->dim == BS_DIM_ALL) ? -1 : a->dim;
}

static row_layout row_layout_of(const bs_shape *s, const bs_attr *a)
{
    row_layout L;
    int d = 0;
    ops_dim_norm(row_dim_attr(a), s->ndim, &d, NULL, 0);
    ops_dim_split(s, d, &L.outer, &L.len, &L.inner);
    return L;
}

/* element j of row (o, i) */
#define ROW_AT(L, o, i, j) ((((o) * (L).len) + (j)) * (L).inner + (i))

/* max of a row and log(sum(exp(x - max))) */
static double row_lse(const double *x, row_layout L, int64_t o, int64_t i, double *mx)
{
    double m = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < L.len; j++) {
        double v = x[ROW_AT(L, o, i, j)];
        if (v > m || isnan(v))
            m = v;
    }
    for (int64_t j = 0; j < L.len; j++)
        s += exp(x[ROW_AT(L, o, i, j)] - m);
    *mx = m;
    return log(s);
}

static bs_status row_shape(const bs_shape *in, const bs_attr *a, bs_shape *out, char *err,
                           size_t errlen)
{
    int d;
    bs_status st = ops_dim_norm(row_dim_attr(a), in->ndim, &d, err, errlen);
    if (st == BS_OK)
        *out = *in;
    return st;
}

/* ==== softmax ==== */
/* y = exp(x - max) / sum(exp(x - max)) along dim;
 * VJP: dx = y * (G - sum(G * y));  JVP: dy = y * (t - sum(t * y)) */
bs_status op_softmax_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                           bs_shape *out, char *err, size_t errlen)
{
    return row_shape(&in[0], a, out, err, errlen);
}

bs_status op_softmax_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                         size_t errlen)
{
    row_layout L = row_layout_of(&in[0].shape, a);
    if (bs_dtype_in_float(out->dtype) &&
        ops_lp_softmax(out->dtype, false, in[0].data, L.outer, L.len, L.inner, out->data))
        return BS_OK;
    const double *x = in[0].data;
    double *y = out->data;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++) {
            double m = -INFINITY, s = 0.0;
            for (int64_t j = 0; j < L.len; j++) {
                double v = x[ROW_AT(L, o, i, j)];
                if (v > m || isnan(v))
                    m = v;
            }
            for (int64_t j = 0; j < L.len; j++) {
                double e = exp(x[ROW_AT(L, o, i, j)] - m);
                y[ROW_AT(L, o, i, j)] = e;
                s += e;
            }
            double r = 1.0 / s;
            for (int64_t j = 0; j < L.len; j++)
                y[ROW_AT(L, o, i, j)] *= r;
        }
    return BS_OK;
}

/* out[j] (+)= y[j] * (u[j] - sum(u * y)) for u = G (VJP, accumulate) or t (JVP, write) */
static void softmax_back(const double *y, const double *u, row_layout L, double *out, bool acc)
{
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < L.len; j++)
                s += u[ROW_AT(L, o, i, j)] * y[ROW_AT(L, o, i, j)];
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, i, j);
                double v = y[k] * (u[k] - s);
                out[k] = acc ? out[k] + v : v;
            }
        }
}

void op_softmax_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *g, int i, bs_tensor *din)
{
    row_layout L = row_layout_of(&in[0].shape, a);
    if (i == 0 && bs_dtype_in_float(g->dtype) &&
        ops_lp_softmax_vjp(g->dtype, false, out->data, g->data, L.outer, L.len, L.inner, din->data))
        return;
    if (i == 0)
        softmax_back(out->data, g->data, L, din->data, true);
}

void op_softmax_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *din, bs_tensor *dout)
{
    if (!din[0].data)
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
    else
        softmax_back(out->data, din[0].data, row_layout_of(&in[0].shape, a), dout->data, false);
}

double op_softmax_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return (4.0 + OPS_FLOP_TR) * ops_numel_d(&in[0]);
}

/* SoftmaxBackward0 keeps the result */
int op_softmax_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                     bs_saved *sv)
{
    return ops_save_result(sv, 0);
}

/* ==== log_softmax ==== */
/* y = x - max - log(sum(exp(x - max))) along dim;
 * VJP: dx = G - exp(y) * sum(G);  JVP: dy = t - sum(exp(y) * t) */
bs_status op_log_softmax_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                               bs_shape *out, char *err, size_t errlen)
{
    return row_shape(&in[0], a, out, err, errlen);
}

bs_status op_log_softmax_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                             size_t errlen)
{
    row_layout L = row_layout_of(&in[0].shape, a);
    if (bs_dtype_in_float(out->dtype) &&
        ops_lp_softmax(out->dtype, true, in[0].data, L.outer, L.len, L.inner, out->data))
        return BS_OK;
    const double *x = in[0].data;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++) {
            double m, lse = row_lse(x, L, o, i, &m);
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, i, j);
                out->data[k] = x[k] - m - lse;
            }
        }
    return BS_OK;
}

/* p = exp(log_softmax(x)) recomputed from x (the output may have been rounded to a dtype) */
static void log_softmax_probs(const double *x, row_layout L, int64_t o, int64_t i, double *m,
                              double *lse)
{
    *lse = row_lse(x, L, o, i, m);
}

void op_log_softmax_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                        const bs_tensor *g, int i, bs_tensor *din)
{
    if (i != 0)
        return;
    row_layout L = row_layout_of(&in[0].shape, a);
    /* the float path reads the output, as LogSoftmaxBackward0 does (exp(result)) */
    if (bs_dtype_in_float(g->dtype) &&
        ops_lp_softmax_vjp(g->dtype, true, out->data, g->data, L.outer, L.len, L.inner, din->data))
        return;
    const double *x = in[0].data, *G = g->data;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t r = 0; r < L.inner; r++) {
            double m, lse, s = 0.0;
            log_softmax_probs(x, L, o, r, &m, &lse);
            for (int64_t j = 0; j < L.len; j++)
                s += G[ROW_AT(L, o, r, j)];
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, r, j);
                din->data[k] += G[k] - exp(x[k] - m - lse) * s;
            }
        }
}

void op_log_softmax_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                        const bs_tensor *din, bs_tensor *dout)
{
    const double *t = din[0].data, *x = in[0].data;
    if (!t) {
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
        return;
    }
    row_layout L = row_layout_of(&in[0].shape, a);
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t r = 0; r < L.inner; r++) {
            double m, lse, s = 0.0;
            log_softmax_probs(x, L, o, r, &m, &lse);
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, r, j);
                s += exp(x[k] - m - lse) * t[k];
            }
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, r, j);
                dout->data[k] = t[k] - s;
            }
        }
}

double op_log_softmax_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return (4.0 + OPS_FLOP_TR) * ops_numel_d(&in[0]);
}

/* LogSoftmaxBackward0 keeps the result */
int op_log_softmax_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,
                         const bs_attr *a, bs_saved *sv)
{
    return ops_save_result(sv, 0);
}

/* ==== layernorm ==== */
/* Over the last dim (D): mu = mean(x), var = mean((x - mu)^2) (biased), r = 1/sqrt(var + eps),
 * y = xhat = (x - mu) * r, no affine.
 * VJP: dx = r * (G - mean(G) - xhat * mean(G * xhat)).
 * The Jacobian r * (I - 1/D - xhat xhat^T / D) is symmetric, so the JVP is the same formula
 * applied to the tangent. */
static double ln_eps(const bs_attr *a) { return a ? a->k : 1e-5; }

bs_status op_layernorm_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                             bs_shape *out, char *err, size_t errlen)
{
    if (in[0].ndim == 0)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "Expected normalized_shape to be at least 1-dimensional, i.e., containing "
                        "at least one element, but got normalized_shape = []");
    *out = in[0];
    return BS_OK;
}

static void ln_stats(const double *x, int64_t D, double eps, double *mu, double *rstd)
{
    double s = 0.0, v = 0.0;
    for (int64_t j = 0; j < D; j++)
        s += x[j];
    double m = s / (double)D;
    for (int64_t j = 0; j < D; j++)
        v += (x[j] - m) * (x[j] - m);
    *mu = m;
    *rstd = 1.0 / sqrt(v / (double)D + eps);
}

bs_status op_layernorm_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                           size_t errlen)
{
    const bs_shape *s = &in[0].shape;
    int64_t D = s->d[s->ndim - 1], rows = D ? bs_shape_numel(s) / D : 0;
    if (bs_dtype_in_float(out->dtype) && ops_lp_layernorm(out->dtype, in[0].data, rows, D, ln_eps(a), out->data))
        return BS_OK;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0].data + r * D; /* (D) */
        double *y = out->data + r * D;        /* (D) */
        double mu, rstd;
        ln_stats(x, D, ln_eps(a), &mu, &rstd);
        for (int64_t j = 0; j < D; j++)
            y[j] = (x[j] - mu) * rstd;
    }
    return BS_OK;
}

/* out (+)= r * (u - mean(u) - xhat * mean(u * xhat)) per row */
static void ln_back(const bs_tensor *in, const bs_attr *a, const double *u, double *out, bool acc)
{
    const bs_shape *s = &in[0].shape;
    int64_t D = s->d[s->ndim - 1], rows = D ? bs_shape_numel(s) / D : 0;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0].data + r * D, *ur = u + r * D;
        double *dx = out + r * D;
        double mu, rstd, mu_u = 0.0, mu_ux = 0.0;
        ln_stats(x, D, ln_eps(a), &mu, &rstd);
        for (int64_t j = 0; j < D; j++) {
            mu_u += ur[j];
            mu_ux += ur[j] * (x[j] - mu) * rstd;
        }
        mu_u /= (double)D;
        mu_ux /= (double)D;
        for (int64_t j = 0; j < D; j++) {
            double xhat = (x[j] - mu) * rstd;
            double v = rstd * (ur[j] - mu_u - xhat * mu_ux);
            dx[j] = acc ? dx[j] + v : v;
        }
    }
}

void op_layernorm_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                      const bs_tensor *g, int i, bs_tensor *din)
{
    if (i != 0) return;
    const bs_shape *s = &in[0].shape;
    int64_t D = s->d[s->ndim - 1], rows = D ? bs_shape_numel(s) / D : 0;
    if (bs_dtype_in_float(g->dtype) &&
        ops_lp_layernorm_vjp(g->dtype, in[0].data, g->data, rows, D, ln_eps(a), din->data))
        return;
    ln_back(in, a, g->data, din->data, true);
}

void op_layernorm_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                      const bs_tensor *din, bs_tensor *dout)
{
    if (!din[0].data)
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
    else
        ln_back(in, a, din[0].data, dout->data, false);
}

double op_layernorm_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    int64_t D = in[0].ndim ? in[0].d[in[0].ndim - 1] : 1;
    double rows = D ? ops_numel_d(&in[0]) / (double)D : 0.0;
    return 6.0 * ops_numel_d(&in[0]) + (OPS_FLOP_TR + 2.0) * rows;
}

/* the input, and mean and rstd per row */
/* NativeLayerNormBackward0 keeps the input and, per row, the mean (result1) and 1/std (result2),
 * shaped as the input with the last dim 1 */
int op_layernorm_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                       bs_saved *sv)
{
    bs_shape rows = in[0].shape;
    if (rows.ndim) rows.d[rows.ndim - 1] = 1;
    int k = ops_save_in(sv, 0, "input", 0);
    k = ops_save_buffer(sv, k, "result1", &rows, odt);
    return ops_save_buffer(sv, k, "result2", &rows, odt);
}

/* ==== Losses: shared ==== */
static bs_status loss_out(bs_shape *out)
{
    out->ndim = 0;
    return BS_OK;
}

/* mse, bce and bce_with_logits take floating-point input and target (PyTorch: "Found dtype Long
 * but expected Double"); class indices are cross_entropy's. The classic slip is tensor([1, 0])
 * as a target, so the message says what to write instead. */
static bs_status loss_float_check(const bs_dtype *dt, char *err, size_t errlen)
{
    if (!dt) return BS_OK;
    if (dt[0] == BS_I64)
        return ops_fail(BS_ERR_TYPE, err, errlen,
                        "Found dtype Long but expected a floating point dtype: the input of this "
                        "loss must be floating point (write 1.0, not 1)");
    if (dt[1] == BS_I64)
        return ops_fail(BS_ERR_TYPE, err, errlen,
                        "Found dtype Long but expected %s: the target must be floating point, like "
                        "the input (write 1.0, not 1; integer class indices are for cross_entropy)",
                        ops_torch_dtype(dt[0]));
    return BS_OK;
}

static void zero_out(bs_tensor *dout)
{
    dout->data[0] = 0.0;
}

/* ==== mse ==== */
/* L = sum((a - b)^2) / n over the broadcast shape (n its numel);
 * dL/da = 2/n * (a - b) * G (summed back over a's broadcast dims), dL/db = -dL/da's terms. */
bs_status op_mse_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen)
{
    bs_shape b;
    bs_status st = ops_broadcast(&in[0], &in[1], &b, err, errlen);
    if (st == BS_OK) st = loss_float_check(dt, err, errlen);
    return st != BS_OK ? st : loss_out(out);
}

bs_status op_mse_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                     size_t errlen)
{
    if (bs_dtype_in_float(out->dtype) && ops_lp_mse(out->dtype, in, NULL, -1, out->data))
        return BS_OK;
    bs_shape bs;
    ops_iter it;
    bs_shape_broadcast(&in[0].shape, &in[1].shape, &bs);
    int64_t n = bs_shape_numel(&bs);
    double s = 0.0;
    ops_iter_init(&it, &bs, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) {
        double d = in[0].data[it.off[0]] - in[1].data[it.off[1]];
        s += d * d;
    }
    out->data[0] = s / (double)n;
    return BS_OK;
}

void op_mse_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                int i, bs_tensor *din)
{
    if ((i == 0 || i == 1) && bs_dtype_in_float(g->dtype) && ops_lp_mse(g->dtype, in, g, i, din->data))
        return;
    bs_shape bs;
    ops_iter it;
    bs_shape_broadcast(&in[0].shape, &in[1].shape, &bs);
    int64_t n = bs_shape_numel(&bs);
    double norm = 2.0 / (double)n, G = g->data[0];
    if (i != 0 && i != 1)
        return;
    ops_iter_init(&it, &bs, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) {
        double v = norm * (in[0].data[it.off[0]] - in[1].data[it.off[1]]) * G;
        din->data[it.off[i]] += i == 0 ? v : -v;
    }
}

void op_mse_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout)
{
    bs_shape bs;
    ops_iter it;
    bs_shape_broadcast(&in[0].shape, &in[1].shape, &bs);
    int64_t n = bs_shape_numel(&bs);
    const double *ta = din[0].data, *tb = din[1].data;
    double s = 0.0;
    ops_iter_init(&it, &bs, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) {
        double t = (ta ? ta[it.off[0]] : 0.0) - (tb ? tb[it.off[1]] : 0.0);
        s += (in[0].data[it.off[0]] - in[1].data[it.off[1]]) * t;
    }
    dout->data[0] = (ta || tb) ? 2.0 * s / (double)n : 0.0;
}

double op_mse_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    bs_shape bs;
    if (!bs_shape_broadcast(&in[0], &in[1], &bs))
        return 0.0;
    return 3.0 * ops_numel_d(&bs) + 1.0;
}

/* MseLossBackward0 keeps self and target (each grad formula reads both) */
int op_mse_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                 bs_saved *sv)
{
    return ops_save_in(sv, ops_save_in(sv, 0, "self", 0), "target", 1);
}

/* ==== bce ==== */
/* L = mean(-(t*log(p) + (1-t)*log(1-p))), each log clamped at >= -100 (PyTorch's form:
 * (t - 1) * max(log1p(-p), -100) - t * max(log(p), -100));
 * dL/dp = G * (p - t) / max((1 - p) * p, 1e-12) / n  (= (-t/p + (1-t)/(1-p)) G/n);
 * dL/dt = G * (max(log(1-p), -100) - max(log(p), -100)) / n. */
#define BCE_EPS 1e-12

static double clamp_log(double v) { return v < -100.0 ? -100.0 : v; }

bs_status op_bce_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen)
{
    if (!bs_shape_eq(&in[0], &in[1])) {
        char sa[96], sb[96];
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "Using a target size (%s) that is different to the input size (%s) is "
                        "deprecated. Please ensure they have the same size.",
                        ops_torch_size_str(&in[1], sb, sizeof sb),
                        ops_torch_size_str(&in[0], sa, sizeof sa));
    }
    bs_status st = loss_float_check(dt, err, errlen);
    return st != BS_OK ? st : loss_out(out);
}

bs_status op_bce_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                     size_t errlen)
{
    if (bs_dtype_in_float(out->dtype)) {
        for (int64_t j = 0; j < bs_tensor_numel(&in[0]); j++)
            if (!(in[0].data[j] >= 0.0 && in[0].data[j] <= 1.0))
                return ops_fail(BS_ERR_VALUE, err, errlen,
                                "all elements of input should be between 0 and 1");
        if (ops_lp_bce(out->dtype, in, NULL, -1, out->data)) return BS_OK;
    }
    int64_t n = bs_tensor_numel(&in[0]);
    const double *p = in[0].data, *t = in[1].data;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) {
        if (!(p[j] >= 0.0 && p[j] <= 1.0))
            return ops_fail(BS_ERR_VALUE, err, errlen,
                            "all elements of input should be between 0 and 1");
        s += (t[j] - 1.0) * clamp_log(log1p(-p[j])) - t[j] * clamp_log(log(p[j]));
    }
    out->data[0] = s / (double)n;
    return BS_OK;
}

static double bce_dp(double p, double t) { return (p - t) / fmax((1.0 - p) * p, BCE_EPS); }
static double bce_dt(double p) { return clamp_log(log1p(-p)) - clamp_log(log(p)); }

void op_bce_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                int i, bs_tensor *din)
{
    if ((i == 0 || i == 1) && bs_dtype_in_float(g->dtype) && ops_lp_bce(g->dtype, in, g, i, din->data))
        return;
    int64_t n = bs_tensor_numel(&in[0]);
    const double *p = in[0].data, *t = in[1].data;
    double G = g->data[0];
    for (int64_t j = 0; j < n; j++) {
        if (i == 0)
            din->data[j] += G * (p[j] - t[j]) / fmax((1.0 - p[j]) * p[j], BCE_EPS) / (double)n;
        else if (i == 1)
            din->data[j] += G * bce_dt(p[j]) / (double)n;
    }
}

void op_bce_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout)
{
    int64_t n = bs_tensor_numel(&in[0]);
    const double *p = in[0].data, *t = in[1].data, *tp = din[0].data, *tt = din[1].data;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) {
        if (tp)
            s += bce_dp(p[j], t[j]) * tp[j];
        if (tt)
            s += bce_dt(p[j]) * tt[j];
    }
    dout->data[0] = (tp || tt) ? s / (double)n : 0.0;
}

double op_bce_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return (2.0 * OPS_FLOP_TR + 6.0) * ops_numel_d(&in[0]) + 1.0;
}

/* BinaryCrossEntropyBackward0 keeps self and target */
int op_bce_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                 bs_saved *sv)
{
    return ops_save_in(sv, ops_save_in(sv, 0, "self", 0), "target", 1);
}

/* ==== bce_with_logits ==== */
/* L = mean(max(z,0) - z*t + log(1 + exp(-|z|))), computed as PyTorch does:
 * (1 - t)*z + m + log(exp(-m) + exp(-z - m)) with m = max(-z, 0);
 * dL/dz = (sigmoid(z) - t) * G / n,  dL/dt = -z * G / n. */
bs_status op_bce_with_logits_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                                   bs_shape *out, char *err, size_t errlen)
{
    if (!bs_shape_eq(&in[0], &in[1])) {
        char sa[96], sb[96];
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "Target size (%s) must be the same as input size (%s)",
                        ops_torch_size_str(&in[1], sb, sizeof sb),
                        ops_torch_size_str(&in[0], sa, sizeof sa));
    }
    bs_status st = loss_float_check(dt, err, errlen);
    return st != BS_OK ? st : loss_out(out);
}

bs_status op_bce_with_logits_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                                 size_t errlen)
{
    if (bs_dtype_in_float(out->dtype) && ops_lp_bce_logits(out->dtype, in, NULL, -1, out->data))
        return BS_OK;
    int64_t n = bs_tensor_numel(&in[0]);
    const double *z = in[0].data, *t = in[1].data;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double m = -z[j] > 0.0 ? -z[j] : 0.0;
        s += (1.0 - t[j]) * z[j] + m + log(exp(-m) + exp(-z[j] - m));
    }
    out->data[0] = s / (double)n;
    return BS_OK;
}

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

void op_bce_with_logits_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                            const bs_tensor *g, int i, bs_tensor *din)
{
    if ((i == 0 || i == 1) && bs_dtype_in_float(g->dtype) &&
        ops_lp_bce_logits(g->dtype, in, g, i, din->data))
        return;
    int64_t n = bs_tensor_numel(&in[0]);
    const double *z = in[0].data, *t = in[1].data;
    double G = g->data[0];
    for (int64_t j = 0; j < n; j++) {
        if (i == 0)
            din->data[j] += (sigm(z[j]) - t[j]) * G / (double)n;
        else if (i == 1)
            din->data[j] += -z[j] * G / (double)n;
    }
}

void op_bce_with_logits_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                            const bs_tensor *din, bs_tensor *dout)
{
    int64_t n = bs_tensor_numel(&in[0]);
    const double *z = in[0].data, *t = in[1].data, *tz = din[0].data, *tt = din[1].data;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) {
        if (tz)
            s += (sigm(z[j]) - t[j]) * tz[j];
        if (tt)
            s += -z[j] * tt[j];
    }
    dout->data[0] = (tz || tt) ? s / (double)n : 0.0;
}

double op_bce_with_logits_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return (3.0 * OPS_FLOP_TR + 7.0) * ops_numel_d(&in[0]) + 1.0;
}

/* BinaryCrossEntropyWithLogitsBackward0 keeps self and target */
int op_bce_with_logits_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,
                             const bs_attr *a, bs_saved *sv)
{
    return ops_save_in(sv, ops_save_in(sv, 0, "self", 0), "target", 1);
}

/* ==== cross_entropy ====
 * logits z with the classes along dim 1 (dim 0 for 1-D logits): (C), (N, C) or (N, C, d...).
 * Index targets (BS_I64) have z's shape without the class dim; -100 is ignored (PyTorch's
 * ignore_index) and the mean is over the W rows not ignored:
 *   L = sum_rows -log_softmax(z)[t] / W;  dL/dz = (softmax(z) - onehot(t)) * G / W.
 * Probability targets (float, z's shape), with W = numel / C:
 *   L = -sum(t * log_softmax(z)) / W;  dL/dz = (softmax(z) * sum_c(t) - t) * G / W.
 * The target gets no gradient (ops.def's deriv_b is NULL). */
#define XENT_IGNORE (-100)

static bool xent_probs(const bs_shape *z, const bs_shape *t) { return bs_shape_eq(z, t); }

static row_layout xent_layout(const bs_shape *z)
{
    row_layout L;
    ops_dim_split(z, z->ndim == 1 ? 0 : 1, &L.outer, &L.len, &L.inner);
    return L;
}

bs_status op_cross_entropy_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                                 bs_shape *out, char *err, size_t errlen)
{
    const bs_shape *z = &in[0], *t = &in[1];
    char sz[96], st[96];
    if (z->ndim == 0)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "Dimension specified as 1 but tensor has no dimensions");
    if (xent_probs(z, t)) {
        if (dt && dt[1] == BS_I64)
            return ops_fail(BS_ERR_TYPE, err, errlen,
                            "Expected floating point type for target with class probabilities, "
                            "got %s", ops_torch_dtype(dt[1]));
        return loss_out(out);
    }
    if (z->ndim == 1) {
        if (t->ndim > 1)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "0D or 1D target tensor expected, multi-target not supported");
        if (t->ndim == 1)
            return ops_fail(BS_ERR_SHAPE, err, errlen, "size mismatch (got input: %s, target: %s)",
                            ops_sizes_str(z, sz, sizeof sz), ops_sizes_str(t, st, sizeof st));
    } else {
        int64_t tb = t->ndim ? t->d[0] : 0;
        if (tb != z->d[0])
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "Expected input batch_size (%lld) to match target batch_size (%lld).",
                            (long long)z->d[0], (long long)tb);
        if (z->ndim == 2 && t->ndim > 1)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "0D or 1D target tensor expected, multi-target not supported");
        bs_shape want = {0, {0}};
        for (int k = 0; k < z->ndim; k++)
            if (k != 1)
                want.d[want.ndim++] = z->d[k];
        if (!bs_shape_eq(&want, t))
            return ops_fail(BS_ERR_SHAPE, err, errlen, "Expected target size %s, got %s",
                            ops_sizes_str(&want, sz, sizeof sz), ops_sizes_str(t, st, sizeof st));
    }
    if (dt && dt[1] != BS_I64)
        return ops_fail(BS_ERR_TYPE, err, errlen, "expected scalar type Long but found %s",
                        ops_torch_dtype(dt[1]));
    return loss_out(out);
}

/* class index of row (o, i), or -1 when ignored; false if out of range */
static bool xent_class(const double *t, row_layout L, int64_t o, int64_t i, int64_t *c)
{
    double v = t[o * L.inner + i];
    if (v == XENT_IGNORE) {
        *c = -1;
        return true;
    }
    if (!(v >= 0.0 && v < (double)L.len))
        return false;
    *c = (int64_t)v;
    return true;
}

/* rows that count (index targets), or numel / C (probability targets) */
static double xent_weight(const bs_tensor *in, row_layout L)
{
    if (xent_probs(&in[0].shape, &in[1].shape))
        return (double)(L.outer * L.inner);
    double w = 0.0;
    for (int64_t r = 0; r < L.outer * L.inner; r++)
        w += in[1].data[r] != XENT_IGNORE;
    return w;
}

bs_status op_cross_entropy_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                               size_t errlen)
{
    row_layout L = xent_layout(&in[0].shape);
    const double *z = in[0].data, *t = in[1].data;
    bool probs = xent_probs(&in[0].shape, &in[1].shape);
    double s = 0.0;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++) {
            double m, lse;
            if (probs) {
                lse = row_lse(z, L, o, i, &m);
                for (int64_t j = 0; j < L.len; j++) {
                    int64_t k = ROW_AT(L, o, i, j);
                    s -= t[k] * (z[k] - m - lse);
                }
                continue;
            }
            int64_t c;
            if (!xent_class(t, L, o, i, &c))
                return ops_fail(BS_ERR_VALUE, err, errlen, "Target %lld is out of bounds.",
                                (long long)t[o * L.inner + i]);
            if (c < 0)
                continue;
            lse = row_lse(z, L, o, i, &m);
            s -= z[ROW_AT(L, o, i, c)] - m - lse;
        }
    out->data[0] = s / xent_weight(in, L);
    /* the targets are checked: the float path's number, when it handles this layout */
    if (bs_dtype_in_float(out->dtype)) ops_lp_cross_entropy(out->dtype, in, NULL, out->data);
    return BS_OK;
}

/* per logit: u = dL/dz * W / G = p * S - y, where p = softmax, y = onehot(t) or t, S = sum(y) */
void op_cross_entropy_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                          const bs_tensor *g, int i, bs_tensor *din)
{
    if (i != 0)
        return;
    if (bs_dtype_in_float(g->dtype) && ops_lp_cross_entropy(g->dtype, in, g, din->data))
        return;
    row_layout L = xent_layout(&in[0].shape);
    const double *z = in[0].data, *t = in[1].data;
    bool probs = xent_probs(&in[0].shape, &in[1].shape);
    double w = g->data[0] / xent_weight(in, L);
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t r = 0; r < L.inner; r++) {
            double m, lse, S = 0.0;
            int64_t c = -1;
            if (probs) {
                for (int64_t j = 0; j < L.len; j++)
                    S += t[ROW_AT(L, o, r, j)];
            } else if (!xent_class(t, L, o, r, &c) || c < 0) {
                continue;
            }
            lse = row_lse(z, L, o, r, &m);
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, r, j);
                double p = exp(z[k] - m - lse);
                if (probs)
                    din->data[k] += -t[k] * w + p * (S * w);
                else
                    din->data[k] += j == c ? -w + p * w : p * w;
            }
        }
}

void op_cross_entropy_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                          const bs_tensor *din, bs_tensor *dout)
{
    const double *tz = din[0].data;
    if (!tz) {
        zero_out(dout);
        return;
    }
    row_layout L = xent_layout(&in[0].shape);
    const double *z = in[0].data, *t = in[1].data;
    bool probs = xent_probs(&in[0].shape, &in[1].shape);
    double s = 0.0;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t r = 0; r < L.inner; r++) {
            double m, lse, S = 0.0;
            int64_t c = -1;
            if (probs) {
                for (int64_t j = 0; j < L.len; j++)
                    S += t[ROW_AT(L, o, r, j)];
            } else if (!xent_class(t, L, o, r, &c) || c < 0) {
                continue;
            } else {
                S = 1.0;
            }
            lse = row_lse(z, L, o, r, &m);
            for (int64_t j = 0; j < L.len; j++) {
                int64_t k = ROW_AT(L, o, r, j);
                double y = probs ? t[k] : (j == c ? 1.0 : 0.0);
                s += (exp(z[k] - m - lse) * S - y) * tz[k];
            }
        }
    dout->data[0] = s / xent_weight(in, L);
}

double op_cross_entropy_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return (4.0 + OPS_FLOP_TR) * ops_numel_d(&in[0]) + 2.0 * ops_numel_d(&in[1]);
}

/* the logits and the targets (int64 indices: 8 bytes each) */
/* F.cross_entropy is log_softmax then nll_loss in PyTorch: LogSoftmaxBackward0 keeps its result
 * (a tensor of the logits' shape that is no node here) and NllLossBackward0 the same tensor, the
 * target and total_weight (0-d). With probability targets the second op is a product, whose
 * MulBackward0 keeps the target. */
int op_cross_entropy_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,
                           const bs_attr *a, bs_saved *sv)
{
    bs_shape s0 = {0, {0}};
    int k = ops_save_buffer(sv, 0, "log_softmax", &in[0].shape, odt);
    k = ops_save_in(sv, k, "target", 1);
    if (!xent_probs(&in[0].shape, &in[1].shape))
        k = ops_save_buffer(sv, k, "total_weight", &s0, odt);
    return k;
}
