/* core/optim.c: torch.optim's SGD (momentum, dampening, weight decay, nesterov) and Adam, with
 * per-parameter state kept as torch.optim keeps it, updating in place every param that has a
 * gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ==== Construction ==== */
bs_opt_conf bs_opt_defaults(bs_opt_kind k)
{
    bs_opt_conf c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    c.lr = k == BS_OPT_ADAM ? 1e-3 : 0.01;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

/* v as Python's repr(float) writes it (the figure in torch.optim's messages): the shortest
 * digits that read back to v; fixed notation from 1e-4 up to 1e16, with ".0" on whole numbers
 * ("-1.0", "-0.0001"), else "1e-05" / "1e+16"; "nan", "inf", "-inf". */
char *bs_float_repr(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, len, v < 0 ? "-inf" : "inf");
        return buf;
    }
    char e[40];
    int p = 1;
    bool found = false;
    for (; p < 17 && !found; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) {
            found = true;
            break;
        }
        /* printf rounds an exact tie to even (2^-24 to 16 digits: ...062|5 -> ...062), which may
           not read back while its neighbour does (...063): Python's repr takes the neighbour */
        for (int sgn = -1; sgn <= 1 && !found; sgn += 2) { /* the last digit -1, +1 */
            char t[40];
            memcpy(t, e, sizeof t);
            char *d = strchr(t, 'e') - 1;
            while (d >= t) {
                if (*d == '.' || *d == '-') { d--; continue; }
                if (sgn > 0 && *d == '9') { *d-- = '0'; continue; }
                if (sgn < 0 && *d == '0') { *d-- = '9'; continue; }
                *d += (char)sgn;
                break;
            }
            if (d >= t && t[0] != '0' && !(t[0] == '-' && t[1] == '0') && strtod(t, NULL) == v) {
                memcpy(e, t, sizeof e);
                found = true;
            }
        }
        if (found) break;
    }
    if (!found) snprintf(e, sizeof e, "%.*e", p - 1, v);
    int x = atoi(strchr(e, 'e') + 1);
    if (x < -4 || x >= 16) {
        snprintf(buf, len, "%s", e);   /* C writes at least two exponent digits, as Python does */
        return buf;
    }
    int decimals = p - 1 - x > 0 ? p - 1 - x : 0;
    snprintf(buf, len, "%.*f", decimals, v);
    if (!strchr(buf, '.')) {
        size_t n = strlen(buf);
        if (n + 2 < len) memcpy(buf + n, ".0", 3);
    }
    return buf;
}

/* The checks torch.optim makes, in its order and words (torch/optim/sgd.py, adam.py). Adam's are
 * written `not 0.0 <= x` (NaN fails them); SGD's `x < 0.0` (NaN passes, as in PyTorch). */
static bs_status opt_validate(bs_ctx *c, const bs_opt_conf *k)
{
    char s[40];
    if (k->kind == BS_OPT_ADAM) {
        if (!(0.0 <= k->lr))
            return bs__err(c, BS_ERR_VALUE, "Invalid learning rate: %s", bs_float_repr(k->lr, s, sizeof s));
        if (!(0.0 <= k->eps))
            return bs__err(c, BS_ERR_VALUE, "Invalid epsilon value: %s", bs_float_repr(k->eps, s, sizeof s));
        if (!(0.0 <= k->beta1 && k->beta1 < 1.0))
            return bs__err(c, BS_ERR_VALUE, "Invalid beta parameter at index 0: %s",
                           bs_float_repr(k->beta1, s, sizeof s));
        if (!(0.0 <= k->beta2 && k->beta2 < 1.0))
            return bs__err(c, BS_ERR_VALUE, "Invalid beta parameter at index 1: %s",
                           bs_float_repr(k->beta2, s, sizeof s));
        if (!(0.0 <= k->weight_decay))
            return bs__err(c, BS_ERR_VALUE, "Invalid weight_decay value: %s",
                           bs_float_repr(k->weight_decay, s, sizeof s));
        return BS_OK;
    }
    if (k->lr < 0.0)
        return bs__err(c, BS_ERR_VALUE, "Invalid learning rate: %s", bs_float_repr(k->lr, s, sizeof s));
    if (k->momentum < 0.0)
        return bs__err(c, BS_ERR_VALUE, "Invalid momentum value: %s", bs_float_repr(k->momentum, s, sizeof s));
    if (k->weight_decay < 0.0)
        return bs__err(c, BS_ERR_VALUE, "Invalid weight_decay value: %s",
                       bs_float_repr(k->weight_decay, s, sizeof s));
    if (k->nesterov && (k->momentum <= 0 || k->dampening != 0))
        return bs__err(c, BS_ERR_VALUE, "Nesterov momentum requires a momentum and zero dampening");
    return BS_OK;
}

bs_opt *bs_opt_new(bs_ctx *c, const bs_opt_conf *conf)
{
    if (opt_validate(c, conf)) return NULL;
    bs_opt *o = calloc(1, sizeof *o);
    if (!o) {
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    o->conf = *conf;
    o->next = c->opts;
    c->opts = o;
    return o;
}

const bs_opt_conf *bs_opt_conf_of(const bs_opt *o) { return &o->conf; }

bs_status bs_opt_set_conf(bs_ctx *c, bs_opt *o, const bs_opt_conf *conf)
{
    if (conf->kind != o->conf.kind) return bs__err(c, BS_ERR_VALUE, "an optimizer cannot change its kind");
    bs_status st = opt_validate(c, conf);
    if (st) return st;
    o->conf = *conf;
    return BS_OK;
}

static int cmp_id(const void *a, const void *b)
{
    bs_id x = *(const bs_id *)a, y = *(const bs_id *)b;
    return (x > y) - (x < y);
}

bs_status bs_opt_set_params(bs_ctx *c, bs_opt *o, const bs_id *ids, int n)
{
    for (int i = 0; i < n; i++) {
        const bs_node *nd = bs_node_get(c, ids[i]);
        if (!nd) return bs__err(c, BS_ERR_VALUE, "optimizer got a tensor that is not on the tape");
        if (!nd->is_leaf) return bs__err(c, BS_ERR_VALUE, "can't optimize a non-leaf Tensor");
    }
    size_t cnt = n > 0 ? (size_t)n : 0;
    bs_id *l = malloc((cnt ? cnt : 1) * sizeof *l);
    if (!l) return bs__err(c, BS_ERR_NOMEM, "out of memory");
    if (cnt) memcpy(l, ids, cnt * sizeof *l);
    /* sorted and once each: a step finds a param by binary search, and compacting the tape
       (bs__opt_remap) keeps the order */
    qsort(l, cnt, sizeof *l, cmp_id);
    int32_t k = 0;
    for (size_t i = 0; i < cnt; i++)
        if (!k || l[k - 1] != l[i]) l[k++] = l[i];
    free(o->only);
    o->only = l;
    o->nonly = k;
    return BS_OK;
}

/* does o update node i? */
static bool opt_has(const bs_opt *o, bs_id i)
{
    return !o->only || bsearch(&i, o->only, (size_t)o->nonly, sizeof i, cmp_id) != NULL;
}

/* ==== Per-parameter state ====
 * torch.optim keeps state[p] per parameter, created on the first step at which p has a grad.
 * Here it is indexed by node id:
 *   m[i]  numel + 1 doubles: SGD's momentum_buffer or Adam's exp_avg, then in m[i][numel] the
 *         number of steps this param has taken (Adam's state['step']; for SGD, 0 means the
 *         buffer is not made yet, so the next step clones the gradient into it);
 *   v[i]  numel doubles: Adam's exp_avg_sq.
 * A param whose grad is None has no state and is skipped entirely, as in PyTorch. */
static bool grow(bs_opt *o, int32_t len)
{
    if (len <= o->cap) return true;
    double **m = realloc(o->m, (size_t)len * sizeof *m);
    if (!m) return false;
    o->m = m;
    double **v = realloc(o->v, (size_t)len * sizeof *v);
    if (!v) return false;
    o->v = v;
    for (int32_t i = o->cap; i < len; i++) o->m[i] = o->v[i] = NULL;
    o->cap = len;
    return true;
}

static bool needs_state(const bs_opt_conf *k)
{
    return k->kind == BS_OPT_ADAM || k->momentum != 0;
}

/* state for param i (zeroed, step 0) unless it has some */
static bool state_alloc(bs_opt *o, bs_id i, int64_t numel)
{
    if (!o->m[i]) {
        o->m[i] = calloc((size_t)numel + 1, sizeof(double));
        if (!o->m[i]) return false;
    }
    if (o->conf.kind == BS_OPT_ADAM && !o->v[i]) {
        o->v[i] = calloc((size_t)(numel ? numel : 1), sizeof(double));
        if (!o->v[i]) return false;
    }
    return true;
}

/* ==== The updates ====
 * Each line is one of torch.optim's tensor ops, in its order (torch 1.13, _single_tensor_sgd and
 * _single_tensor_adam; the default on CPU). On a param of dtype t, PyTorch computes each op in
 * t's compute type (double for f64, float for f32, f16 and bf16), with Python-float scalars
 * converted to it, and stores the result in t: OP() rounds to the compute type, ST() to t. State
 * tensors have the param's dtype, so they are rounded the same way. For f64 both are exact.
 * x.add(y, alpha=s) and addcmul are one fused multiply-add, as PyTorch's CPU kernels compute them
 * on x86-64 (AXPY() below), so that the numbers agree with torch.optim to the last bit; SGD on an
 * f16 or bf16 param follows those kernels' 16-bit loops (SC, AXPY_AT: exact against torch 1.13),
 * and so does Adam on bf16 (adam_update_bf16); Adam on f16 is not matched (torch 1.13 has no Half
 * kernels for most of its ops on the CPU).
 *
 * SGD:   d = g.add(p, alpha=wd)                      (wd != 0)
 *        buf = clone(d) on this param's first step, else buf.mul_(momentum).add_(d, alpha=1-dampening)
 *        d = d.add(buf, alpha=momentum) if nesterov else buf        (momentum != 0)
 *        p.add_(d, alpha=-lr)
 * Adam:  step += 1 (this param's own count)
 *        d = g.add(p, alpha=wd)                      (wd != 0)
 *        m.mul_(b1).add_(d, alpha=1-b1);  v.mul_(b2).addcmul_(d, d, value=1-b2)
 *        bc1 = 1 - b1**step;  bc2 = 1 - b2**step      (Python floats)
 *        denom = (v.sqrt() / sqrt(bc2)).add_(eps);  p.addcdiv_(m, denom, value=-lr/bc1) */
typedef struct {
    bs_dtype op, st;
} rounding;

static inline double OP(rounding r, double x) { return r.op == BS_F64 ? x : (double)(float)x; }
static inline double ST(rounding r, double x)
{
    if (r.st == BS_F64) return x;
    return r.st == BS_F32 ? (double)(float)x : bs_dtype_round(r.st, (double)(float)x);
}

/* a Python-float scalar of a tensor op: the compute type for f64 and f32; f16 and bf16 tensors
 * take it in their own dtype (torch 1.13's Scalar.to<scalar_t>(): buf.mul_(0.9) in bfloat16
 * multiplies by 0.8984375) */
static inline double SC(rounding r, double v)
{
    return (r.st == BS_F16 || r.st == BS_BF16) ? bs_dtype_round(r.st, (double)(float)v) : OP(r, v);
}

/* x.add(y, alpha=s), element j of n, in the compute type: x + s*y with one rounding (f64, f32:
 * the fma of PyTorch's kernel). f16 (c10::Half arithmetic) rounds the product first; bf16 too in
 * its scalar loop, while its vector loop (the first n - n % 32 elements) computes in float and
 * rounds once. s is SC()'s. */
static inline double AXPY_AT(rounding r, double x, double s, double y, int64_t j, int64_t n)
{
    if (r.st == BS_F16 || (r.st == BS_BF16 && j >= n - n % 32))
        return ST(r, (double)(float)x + ST(r, (double)((float)s * (float)y)));
    return r.op == BS_F64 ? fma(s, y, x) : (double)fmaf((float)s, (float)y, (float)x);
}
static inline double AXPY(rounding r, double x, double s, double y)
{
    return r.op == BS_F64 ? fma(s, y, x) : (double)fmaf((float)s, (float)y, (float)x);
}

static void sgd_update(const bs_opt_conf *k, rounding r, double *p, const double *g, double *buf,
                       int64_t numel)
{
    double wd = SC(r, k->weight_decay), mom = SC(r, k->momentum), damp = SC(r, 1 - k->dampening);
    double nlr = SC(r, -k->lr);
    bool first = buf && buf[numel] == 0;
    for (int64_t j = 0; j < numel; j++) {
        double d = g[j];
        if (k->weight_decay != 0) d = ST(r, AXPY_AT(r, d, wd, p[j], j, numel));
        if (k->momentum != 0) {
            if (first) {
                buf[j] = d;
            } else {
                buf[j] = ST(r, buf[j] * mom);
                buf[j] = ST(r, AXPY_AT(r, buf[j], damp, d, j, numel));
            }
            d = k->nesterov ? ST(r, AXPY_AT(r, d, mom, buf[j], j, numel)) : buf[j];
        }
        p[j] = ST(r, AXPY_AT(r, p[j], nlr, d, j, numel));
    }
    if (buf) buf[numel] += 1;
}

/* Adam on a bf16 param, as torch 1.13's kernels compute each op of _single_tensor_adam: the
 * Python-float scalars of mul_, add_ and div taken in bfloat16 (SC), add_'s alpha as SGD's
 * (AXPY_AT: one rounding in the vector lanes, two in the scalar tail), addcmul_ and addcdiv_ in
 * float with their value as a float (PointwiseOpsKernel's BFloat16 path), rounded once, sqrt in
 * float. sbc2 = sqrt(bc2) and nstep = -lr / bc1 are the Python floats. Matched against
 * python3-torch: 12 random 3-param problems of 15 steps and the 20-step optim_adam_betas.bf16,
 * every step's params equal. */
static void adam_update_bf16(const bs_opt_conf *k, rounding r, double *p, const double *g,
                             double *m, double *v, int64_t numel, double sbc2, double nstep)
{
    double wd = SC(r, k->weight_decay), b1 = SC(r, k->beta1), b2 = SC(r, k->beta2);
    double c1 = SC(r, 1 - k->beta1), eps = SC(r, k->eps), den = SC(r, sbc2);
    float c2 = (float)(1 - k->beta2), val = (float)nstep;
    for (int64_t j = 0; j < numel; j++) {
        double d = g[j];
        if (k->weight_decay != 0) d = ST(r, AXPY_AT(r, d, wd, p[j], j, numel));
        m[j] = ST(r, m[j] * b1);
        m[j] = ST(r, AXPY_AT(r, m[j], c1, d, j, numel));
        v[j] = ST(r, v[j] * b2);
        v[j] = ST(r, (float)v[j] + c2 * (float)d * (float)d);
        double q = ST(r, sqrtf((float)v[j]));
        q = ST(r, (float)q / (float)den);
        q = ST(r, (float)q + (float)eps);
        p[j] = ST(r, (float)p[j] + val * (float)m[j] / (float)q);
    }
}

static void adam_update(const bs_opt_conf *k, rounding r, double *p, const double *g, double *m,
                        double *v, int64_t numel)
{
    double step = m[numel] + 1;
    m[numel] = step;
    double bc1 = 1 - pow(k->beta1, step), bc2 = 1 - pow(k->beta2, step);
    double wd = OP(r, k->weight_decay), b1 = OP(r, k->beta1), b2 = OP(r, k->beta2);
    double c1 = OP(r, 1 - k->beta1), c2 = OP(r, 1 - k->beta2), eps = OP(r, k->eps);
    double sbc2 = OP(r, sqrt(bc2)), nstep = OP(r, -(k->lr / bc1));
    if (r.st == BS_BF16) { /* torch's bfloat16 kernels, op by op (below) */
        adam_update_bf16(k, r, p, g, m, v, numel, sbc2, nstep);
        return;
    }
    for (int64_t j = 0; j < numel; j++) {
        double d = g[j];
        if (k->weight_decay != 0) d = ST(r, AXPY(r, d, wd, p[j]));
        m[j] = ST(r, m[j] * b1);
        m[j] = ST(r, AXPY(r, m[j], c1, d));
        v[j] = ST(r, v[j] * b2);
        v[j] = ST(r, AXPY(r, v[j], OP(r, c2 * d), d)); /* addcmul */
        double denom = ST(r, sqrt(v[j]));
        denom = ST(r, denom / sbc2);
        denom = ST(r, denom + eps);
        p[j] = ST(r, p[j] + OP(r, OP(r, nstep * m[j]) / denom));
    }
}

/* the tape was compacted: node old moved to remap[old] (BS_NONE: reclaimed, its state too) */
void bs__opt_remap(bs_ctx *c, const bs_id *remap, int32_t len, int32_t newlen)
{
    (void)newlen;
    for (bs_opt *o = c->opts; o; o = o->next) {
        if (o->only) {
            int32_t k = 0;
            for (int32_t j = 0; j < o->nonly; j++)
                if (o->only[j] >= 0 && o->only[j] < len && remap[o->only[j]] != BS_NONE)
                    o->only[k++] = remap[o->only[j]];
            o->nonly = k;
        }
        int32_t n = o->cap < len ? o->cap : len;
        for (int32_t i = 0; i < n; i++) {
            double *m = o->m[i], *v = o->v[i];
            o->m[i] = o->v[i] = NULL;
            if (remap[i] == BS_NONE) {
                free(m);
                free(v);
            } else {
                o->m[remap[i]] = m;
                o->v[remap[i]] = v;
            }
        }
    }
}

bs_status bs_opt_step(bs_ctx *c, bs_opt *o)
{
    const bs_opt_conf *k = &o->conf;
    /* every allocation first, so that running out of memory changes nothing */
    if (needs_state(k)) {
        if (!grow(o, c->len)) return bs__err(c, BS_ERR_NOMEM, "out of memory");
        for (bs_id i = 0; i < c->len; i++) {
            bs_node *n = bs__full(c, i);
            if (!n || !n->is_param || !n->grad.data || !opt_has(o, i)) continue;
            bs__txn_opt(c, o, i, bs_shape_numel(&n->value.shape)); /* before it changes */
            if (!state_alloc(o, i, bs_shape_numel(&n->value.shape)))
                return bs__err(c, BS_ERR_NOMEM, "out of memory");
        }
    }
    bs__txn_opt(c, o, BS_NONE, 0); /* the step count */
    for (bs_id i = 0; i < c->len; i++) {
        bs_node *n = bs__full(c, i);
        if (!n || !n->is_param || !n->grad.data || !opt_has(o, i)) continue;
        int64_t numel = bs_shape_numel(&n->value.shape);
        bs__txn_node(c, n);
        bs_dtype t = n->value.dtype;
        rounding r = {t == BS_F64 ? BS_F64 : BS_F32, t};
        if (k->kind == BS_OPT_SGD)
            sgd_update(k, r, n->value.data, n->grad.data, needs_state(k) ? o->m[i] : NULL, numel);
        else
            adam_update(k, r, n->value.data, n->grad.data, o->m[i], o->v[i], numel);
        n->version++;
    }
    o->step++;
    return BS_OK;
}

int bs_opt_params(const bs_ctx *c, const bs_opt *o, bs_id *ids, int max)
{
    int k = 0;
    for (bs_id i = 0; i < c->len; i++) {
        const bs_node *n = bs__full(c, i);
        if (!n || !n->is_param || !n->grad.data || !opt_has(o, i)) continue;
        if (k < max && ids) ids[k] = i;
        k++;
    }
    return k;
}

bs_status bs_opt_unscale(bs_ctx *c, bs_opt *o, float inv_scale, bool allow_fp16, bool *found_inf)
{
    for (bs_id i = 0; i < c->len; i++) {
        const bs_node *n = bs__full(c, i);
        if (n && n->is_param && n->grad.data && opt_has(o, i) && !allow_fp16 && n->grad.dtype == BS_F16)
            return bs__err(c, BS_ERR_VALUE, "Attempting to unscale FP16 gradients.");
    }
    for (bs_id i = 0; i < c->len; i++) {
        bs_node *n = bs__full(c, i);
        if (!n || !n->is_param || !n->grad.data || !opt_has(o, i)) continue;
        bs__txn_node(c, n);
        int64_t numel = bs_shape_numel(&n->value.shape);
        bs_dtype t = n->grad.dtype;
        for (int64_t j = 0; j < numel; j++) {
            double g = n->grad.data[j];
            if (!isfinite(g)) *found_inf = true;
            /* opmath: a double grad multiplies in double, the others in float */
            n->grad.data[j] = t == BS_F64 ? g * (double)inv_scale
                                          : (double)bs_dtype_roundf(t, (float)g * inv_scale);
        }
    }
    return BS_OK;
}

void bs_opt_zero_grad(bs_ctx *c, bs_opt *o)
{
    if (!o->only) {
        bs_zero_grad_all(c);
        return;
    }
    for (int32_t j = 0; j < o->nonly; j++) bs_zero_grad(c, o->only[j]);
}

void bs_grad_zero_(bs_ctx *c, bs_id id)
{
    bs_node *n = bs_node_at(c, id);
    if (!n || !n->grad.data) return;
    bs__txn_node(c, n);
    memset(n->grad.data, 0, (size_t)bs_shape_numel(&n->value.shape) * sizeof(double));
}

bs_status bs_update_inplace(bs_ctx *c, bs_id id, const bs_tensor *v)
{
    bs_node *n = bs_node_at(c, id);
    if (!n) return bs__err(c, BS_ERR_VALUE, "no such tensor");
    if (!n->is_leaf || n->op != BS_OP_LEAF)
        return bs__err(c, BS_ERR_VALUE, "in-place update of a tensor computed by an op is not supported; "
                       "assign a new name instead");
    if (n->requires_grad && !bs_ctx_no_grad(c))
        return bs__err(c, BS_ERR_VALUE, "a leaf Variable that requires grad is being used in an in-place "
                       "operation.");
    int64_t numel = bs_shape_numel(&n->value.shape), vn = bs_shape_numel(&v->shape);
    if (vn != numel && vn != 1)
        return bs__err(c, BS_ERR_SHAPE, "output with shape %s doesn't match the broadcast shape %s",
                       bs_shape_str(&n->value.shape, (char[64]){0}, 64), bs_shape_str(&v->shape, (char[64]){0}, 64));
    bs__txn_node(c, n);
    for (int64_t j = 0; j < numel; j++)
        n->value.data[j] = bs_dtype_round(n->value.dtype, v->data[vn == 1 ? 0 : j]);
    n->version++;
    return BS_OK;
}
