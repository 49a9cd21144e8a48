/* core/optim.c: torch.optim's SGD (momentum, dampening, weight decay, nesterov) and Adam, updating
 * every param that has a gradient, in place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

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

bs_opt *bs_opt_new(bs_ctx *c, const bs_opt_conf *conf)
{
    if (conf->lr < 0) {
        bs__err(c, BS_ERR_VALUE, "Invalid learning rate: %g", conf->lr);
        return NULL;
    }
    if (conf->momentum < 0) {
        bs__err(c, BS_ERR_VALUE, "Invalid momentum value: %g", conf->momentum);
        return NULL;
    }
    if (conf->nesterov && (conf->momentum <= 0 || conf->dampening != 0)) {
        bs__err(c, BS_ERR_VALUE, "Nesterov momentum requires a momentum and zero dampening");
        return NULL;
    }
    if (conf->kind == BS_OPT_ADAM &&
        (conf->beta1 < 0 || conf->beta1 >= 1 || conf->beta2 < 0 || conf->beta2 >= 1)) {
        bs__err(c, BS_ERR_VALUE, "Invalid beta parameters: (%g, %g)", conf->beta1, conf->beta2);
        return NULL;
    }
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

/* SGD, as torch.optim.SGD:
 *   d = g + wd*p;  buf = d (first step) or momentum*buf + (1-dampening)*d;
 *   d = nesterov ? d + momentum*buf : buf;  p = p - lr*d
 * Adam, as torch.optim.Adam (no amsgrad):
 *   g = g + wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *   p = p - (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
bs_status bs_opt_step(bs_ctx *c, bs_opt *o)
{
    if (!grow(o, c->len)) return bs__err(c, BS_ERR_NOMEM, "out of memory");
    const bs_opt_conf *k = &o->conf;
    o->step++;
    double bc1 = 1 - pow(k->beta1, (double)o->step), bc2 = 1 - pow(k->beta2, (double)o->step);
    for (bs_id i = 0; i < c->len; i++) {
        bs_node *n = bs__node(c, i);
        if (!n->is_param || !n->grad.data) continue;
        int64_t numel = bs_shape_numel(&n->value.shape);
        double *p = n->value.data, *g = n->grad.data;
        bool first = false;
        if ((k->kind == BS_OPT_SGD && k->momentum != 0) || k->kind == BS_OPT_ADAM) {
            if (!o->m[i]) {
                o->m[i] = calloc((size_t)numel, sizeof(double));
                if (!o->m[i]) return bs__err(c, BS_ERR_NOMEM, "out of memory");
                first = true;
            }
        }
        if (k->kind == BS_OPT_ADAM && !o->v[i]) {
            o->v[i] = calloc((size_t)numel, sizeof(double));
            if (!o->v[i]) return bs__err(c, BS_ERR_NOMEM, "out of memory");
        }
        for (int64_t j = 0; j < numel; j++) {
            double d = g[j];
            if (k->weight_decay != 0) d = d + k->weight_decay * p[j];
            if (k->kind == BS_OPT_SGD) {
                if (k->momentum != 0) {
                    double *buf = o->m[i];
                    buf[j] = first ? d : buf[j] * k->momentum + (1 - k->dampening) * d;
                    d = k->nesterov ? d + k->momentum * buf[j] : buf[j];
                }
                p[j] = p[j] + (-k->lr) * d;
            } else {
                double *m = o->m[i], *v = o->v[i];
                m[j] = m[j] * k->beta1 + (1 - k->beta1) * d;
                v[j] = v[j] * k->beta2 + (1 - k->beta2) * d * d;
                double denom = sqrt(v[j]) / sqrt(bc2) + k->eps;
                p[j] = p[j] + (-(k->lr / bc1)) * (m[j] / denom);
            }
        }
        bs__round_tensor(&n->value);
        n->version++;
    }
    return BS_OK;
}

void bs_opt_zero_grad(bs_ctx *c, bs_opt *o)
{
    (void)o;
    bs_zero_grad_all(c);
}
