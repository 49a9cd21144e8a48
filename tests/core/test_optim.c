/* tests/core/test_optim.c: bs_opt_step against torch.optim's numbers (optim_fixtures.h, written by
 * gen_optim_fixtures.py with Debian's python3-torch): per-parameter state, a param that first gets
 * a grad at step 3, a param whose grad is None on some steps, one that never has a grad. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backstep.h"

typedef struct {
    const char *name;
    bs_opt_kind kind;
    bs_dtype dtype;
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
    double beta1, beta2, eps;
    double init[4][6];                 /* per param, its values (numel <= 6) */
    bool has_grad[6][4];               /* [step][param] */
    double grad[6][4][6];              /* [step][param]: p.grad at that step */
    double expect[6][4][6];            /* [step][param]: the values after opt.step() */
} ofx_case;

#include "optim_fixtures.h"

static int failures;

static void fail(const char *fmt, const char *a, const char *b, double x, double y)
{
    printf(fmt, a, b, x, y);
    failures++;
}

/* relative error |x - e| / |e| (absolute where e is 0) */
static double rel_err(double x, double e)
{
    double d = fabs(x - e);
    return e != 0 ? d / fabs(e) : d;
}

/* Largest relative error over every value after every step. The engine computes each of
 * torch.optim's ops as PyTorch's CPU kernels do (f32 ones in float, fused multiply-adds where
 * they fuse), so the figure is 0 today; the tolerance, 1e-12 for f64 and f32 alike, leaves room
 * only for a libm whose pow() differs in the last bit. */
static double run_case(const ofx_case *k)
{
    bs_ctx *c = bs_ctx_new();
    bs_id p[OFX_PARAMS];
    for (int i = 0; i < OFX_PARAMS; i++) {
        p[i] = bs_leaf(c, k->init[i], &ofx_shapes[i], k->dtype, true);
        if (p[i] < 0) {
            printf("FAIL %s: leaf: %s\n", k->name, bs_errmsg(c));
            failures++;
            bs_ctx_free(c);
            return INFINITY;
        }
    }
    bs_opt_conf conf = bs_opt_defaults(k->kind);
    conf.lr = k->lr;
    conf.momentum = k->momentum;
    conf.dampening = k->dampening;
    conf.weight_decay = k->weight_decay;
    conf.nesterov = k->nesterov;
    conf.beta1 = k->beta1;
    conf.beta2 = k->beta2;
    conf.eps = k->eps;
    bs_opt *o = bs_opt_new(c, &conf);
    if (!o) {
        printf("FAIL %s: bs_opt_new: %s\n", k->name, bs_errmsg(c));
        failures++;
        bs_ctx_free(c);
        return INFINITY;
    }
    double worst = 0;
    for (int step = 0; step < OFX_STEPS; step++) {
        bs_opt_zero_grad(c, o);
        /* L = sum over the params that get a grad this step of sum(p * G): p.grad is exactly G */
        bs_id L = BS_NONE;
        for (int i = 0; i < OFX_PARAMS; i++) {
            if (!k->has_grad[step][i]) continue;
            bs_id g = bs_leaf(c, k->grad[step][i], &ofx_shapes[i], k->dtype, false);
            bs_id t = bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, p[i], g));
            L = L == BS_NONE ? t : bs_apply2(c, BS_OP_ADD, L, t);
        }
        if (L < 0 || bs_backward(c, L, NULL, false) != BS_OK) {
            printf("FAIL %s step %d: backward: %s\n", k->name, step + 1, bs_errmsg(c));
            failures++;
            break;
        }
        uint32_t ver[OFX_PARAMS];
        for (int i = 0; i < OFX_PARAMS; i++) {
            const bs_node *n = bs_node_get(c, p[i]);
            ver[i] = n->version;
            if ((n->grad.data != NULL) != k->has_grad[step][i])
                fail("FAIL %s: %s has the wrong grad presence (%g %g)\n", k->name,
                     ofx_param_names[i], 0, 0);
        }
        if (bs_opt_step(c, o) != BS_OK) {
            printf("FAIL %s step %d: step: %s\n", k->name, step + 1, bs_errmsg(c));
            failures++;
            break;
        }
        for (int i = 0; i < OFX_PARAMS; i++) {
            const bs_node *n = bs_node_get(c, p[i]);
            /* a param without a grad is skipped: its version (and value) stay as they were */
            if (n->version != ver[i] + (k->has_grad[step][i] ? 1u : 0u))
                fail("FAIL %s: %s version %g, expected %g\n", k->name, ofx_param_names[i],
                     n->version, ver[i] + (k->has_grad[step][i] ? 1.0 : 0.0));
            int64_t numel = bs_shape_numel(&ofx_shapes[i]);
            for (int64_t j = 0; j < numel; j++) {
                double e = rel_err(n->value.data[j], k->expect[step][i][j]);
                if (!(e <= worst)) worst = e;
            }
        }
    }
    /* the param that never had a grad: bit for bit its initial value */
    const bs_node *f = bs_node_get(c, p[3]);
    for (int j = 0; j < 2; j++)
        if (f->value.data[j] != k->init[3][j])
            fail("FAIL %s: %s changed without a grad (%.17g -> %.17g)\n", k->name, "f",
                 k->init[3][j], f->value.data[j]);
    bs_ctx_free(c);
    return worst;
}

int main(void)
{
    int n = (int)(sizeof ofx_cases / sizeof ofx_cases[0]);
    for (int i = 0; i < n; i++) {
        const ofx_case *k = &ofx_cases[i];
        double tol = 1e-12;
        double worst = run_case(k);
        bool ok = worst <= tol;
        printf("%-4s %-26s %s  max relative error %.3g (tolerance %.0e)\n", ok ? "ok" : "FAIL",
               k->name, bs_dtype_name(k->dtype), worst, tol);
        if (!ok) failures++;
    }
    printf("%d cases, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
