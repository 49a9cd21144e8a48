/* tests/core/test_validate.c: inputs PyTorch refuses are refused by the engine too, as an error
 * status with PyTorch's words, leaving the tape as it was: integer means, integers to negative
 * integer powers, Long targets for float losses, optimizer hyper-parameters out of range. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backstep.h"

static int failures, checks;

static void check(bool ok, const char *what, const char *detail)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL %s: %s\n", what, detail);
    }
}

static bs_id vec(bs_ctx *c, const double *v, int n, bs_dtype t, bool rg)
{
    bs_shape s = {1, {n}};
    return bs_leaf(c, v, &s, t, rg);
}

/* op(a, b) must fail with `code` and exactly `msg` (or a message starting with it when prefix),
 * adding no node to the tape */
static void refuses(bs_ctx *c, const char *what, bs_op op, bs_id a, bs_id b, bs_status code,
                    const char *msg, bool prefix)
{
    int32_t len = bs_tape_len(c);
    bs_id in[BS_MAX_INPUTS] = {a, b};
    bs_id r = bs_apply(c, op, in, NULL);
    check(r < 0, what, "was accepted");
    if (r >= 0) return;
    check(bs_errcode(c) == code, what, bs_errmsg(c));
    bool same = prefix ? !strncmp(bs_errmsg(c), msg, strlen(msg)) : !strcmp(bs_errmsg(c), msg);
    check(same, what, bs_errmsg(c));
    check(bs_tape_len(c) == len, what, "left a node on the tape");
}

static void accepts(bs_ctx *c, const char *what, bs_op op, bs_id a, bs_id b)
{
    bs_id in[BS_MAX_INPUTS] = {a, b};
    bs_id r = bs_apply(c, op, in, NULL);
    check(r >= 0, what, r >= 0 ? "" : bs_errmsg(c));
}

static void test_ops(void)
{
    bs_ctx *c = bs_ctx_new();
    const double i123[] = {1, 2, 3}, i23[] = {2, 3}, i10[] = {1, 0}, i12[] = {1, 2};
    const double f[] = {0.5, 0.2};
    bs_id li = vec(c, i123, 3, BS_I64, false), l23 = vec(c, i23, 2, BS_I64, false);
    bs_id l10 = vec(c, i10, 2, BS_I64, false), l12 = vec(c, i12, 2, BS_I64, false);
    bs_id p = vec(c, f, 2, BS_F64, true), d10 = vec(c, (const double[]){1.0, 0.0}, 2, BS_F64, false);
    bs_id neg1 = bs_scalar(c, -1, BS_I64), two = bs_scalar(c, 2, BS_I64);
    bs_id negf = bs_scalar(c, -1.0, BS_F64);

    refuses(c, "mean of Long", BS_OP_MEAN, li, BS_NONE, BS_ERR_TYPE,
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            "or complex dtype. Got: Long", false);
    accepts(c, "sum of Long", BS_OP_SUM, li, BS_NONE);
    accepts(c, "mean of Double", BS_OP_MEAN, p, BS_NONE);

    refuses(c, "Long ** -1", BS_OP_POW, l23, neg1, BS_ERR_VALUE,
            "Integers to negative integer powers are not allowed.", false);
    bs_id lneg = vec(c, (const double[]){-1, 2}, 2, BS_I64, false);
    refuses(c, "Long ** Long tensor with a negative", BS_OP_POW, l23, lneg, BS_ERR_VALUE,
            "Integers to negative integer powers are not allowed.", false);
    accepts(c, "Long ** 2", BS_OP_POW, l23, two);
    accepts(c, "Long ** -1.0", BS_OP_POW, l23, negf);
    accepts(c, "Double ** -1", BS_OP_POW, p, neg1);

    const char *want = "Found dtype Long but expected Double: the target must be floating point";
    refuses(c, "bce with a Long target", BS_OP_BCE, p, l10, BS_ERR_TYPE, want, true);
    refuses(c, "mse with a Long target", BS_OP_MSE, p, l12, BS_ERR_TYPE, want, true);
    refuses(c, "bce_with_logits with a Long target", BS_OP_BCE_LOGITS, p, l10, BS_ERR_TYPE, want,
            true);
    refuses(c, "mse with a Long input", BS_OP_MSE, l12, d10, BS_ERR_TYPE,
            "Found dtype Long but expected a floating point dtype", true);
    accepts(c, "bce with a Double target", BS_OP_BCE, p, d10);
    accepts(c, "mse with a Double target", BS_OP_MSE, p, d10);
    accepts(c, "bce_with_logits with a Double target", BS_OP_BCE_LOGITS, p, d10);
    /* class indices stay Long for cross_entropy */
    bs_shape s12 = {2, {1, 2}}, s1 = {1, {1}};
    bs_id z = bs_leaf(c, f, &s12, BS_F64, true), cls = bs_leaf(c, (const double[]){1}, &s1, BS_I64, false);
    accepts(c, "cross_entropy with Long class indices", BS_OP_CROSS_ENTROPY, z, cls);

    /* the context is usable after every refusal */
    bs_id L = bs_apply2(c, BS_OP_MSE, p, d10);
    check(L >= 0 && bs_backward(c, L, NULL, false) == BS_OK, "backward after refusals", bs_errmsg(c));
    bs_ctx_free(c);
}

static void opt_refuses(bs_opt_conf conf, const char *msg)
{
    bs_ctx *c = bs_ctx_new();
    bs_opt *o = bs_opt_new(c, &conf);
    check(o == NULL, msg, "was accepted");
    if (!o) {
        check(bs_errcode(c) == BS_ERR_VALUE, msg, bs_errmsg(c));
        check(!strcmp(bs_errmsg(c), msg), msg, bs_errmsg(c));
    }
    bs_ctx_free(c);
}

static void test_opt_conf(void)
{
    bs_opt_conf s = bs_opt_defaults(BS_OPT_SGD), a = bs_opt_defaults(BS_OPT_ADAM), k;
    s.lr = 0.1;
    k = s, k.weight_decay = -1e-4, opt_refuses(k, "Invalid weight_decay value: -0.0001");
    k = s, k.lr = -1, opt_refuses(k, "Invalid learning rate: -1.0");
    k = s, k.momentum = -0.5, opt_refuses(k, "Invalid momentum value: -0.5");
    k = s, k.nesterov = true, opt_refuses(k, "Nesterov momentum requires a momentum and zero dampening");
    k = a, k.eps = -1.0, opt_refuses(k, "Invalid epsilon value: -1.0");
    k = a, k.lr = -1e-3, opt_refuses(k, "Invalid learning rate: -0.001");
    k = a, k.beta1 = 1.0, opt_refuses(k, "Invalid beta parameter at index 0: 1.0");
    k = a, k.beta2 = -0.1, opt_refuses(k, "Invalid beta parameter at index 1: -0.1");
    k = a, k.weight_decay = -1e-5, opt_refuses(k, "Invalid weight_decay value: -1e-05");
    k = a, k.lr = -1e16, opt_refuses(k, "Invalid learning rate: -1e+16");
    k = a, k.lr = -1e6, opt_refuses(k, "Invalid learning rate: -1000000.0");
    k = a, k.lr = NAN, opt_refuses(k, "Invalid learning rate: nan");
    /* in range: accepted, zeros included */
    bs_ctx *c = bs_ctx_new();
    k = s, k.lr = 0, k.momentum = 0.9, k.nesterov = true, k.weight_decay = 0;
    check(bs_opt_new(c, &k) != NULL, "sgd(lr=0, momentum=0.9, nesterov=True)", bs_errmsg(c));
    k = a, k.beta1 = 0, k.beta2 = 0, k.eps = 0;
    check(bs_opt_new(c, &k) != NULL, "adam(betas=(0, 0), eps=0)", bs_errmsg(c));
    bs_ctx_free(c);
}

int main(void)
{
    test_ops();
    test_opt_conf();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
