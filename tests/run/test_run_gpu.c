/* tests/run/test_run_gpu.c: the CUDA backend through the replay plan: an MLP and a graph with
 * every kind of op replayed on the GPU (f32, bf16, f64) against the CPU backend, :run gpu's
 * --quiet line, and :train on=gpu against :train on the tape. Exits 77 (skipped) when the build
 * has no CUDA backend or the machine has no device. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"
#ifdef BS_HAVE_CUDA
#include "bsgpu.h"
#endif

#define BS_RUN_TEST_SESSION
#include "run_test.h"

static const char *const MLP =
    "N = dim(8); D = dim(16); H = dim(32); C = dim(10)\n"
    "seed(0)\n"
    "x = randn(N, D)\n"
    "y = zeros(N, dtype='i64')\n"
    "W1 = param(randn(D, H) * 0.05); b1 = param(zeros(H))\n"
    "W2 = param(randn(H, H) * 0.05); b2 = param(zeros(H))\n"
    "W3 = param(randn(H, C) * 0.05); b3 = param(zeros(C))\n"
    "h1 = relu(x @ W1 + b1)\n"
    "h2 = relu(h1 @ W2 + b2)\n"
    "L = cross_entropy(h2 @ W3 + b3, y)\n";

static const char *const MIXED =
    "seed(3)\n"
    "M = dim(6); K = dim(5)\n"
    "a = randn(M, K); W = param(randn(K, K) * 0.3); c = param(randn(K) * 0.1)\n"
    "h = tanh(a @ W + c); g = sigmoid(a @ W - c); e = leaky_relu(h, 0.1) * 2\n"
    "s = softmax(h, dim=1); ls = log_softmax(g); n = layernorm(h.T).T\n"
    "r = reshape(h, M * K)\n"
    "L = mean(s * ls) + sum(max(e, dim=0)) * 0.1 + mse(r, r * 0.5 + 1) + mean(n * n) \\\n"
    "    + bce(g, ones(M, K) * 0.5) + bce_with_logits(h, zeros(M, K)) + mean(exp(-(h ** 2))) \\\n"
    "    + mean(sqrt(abs(g) + 1) * log(exp(h) + 1)) + mean(sin(h) * cos(g)) + sum(h / (abs(g) + 1))\n";





static void check_graph(bs_backend *gpu, const char *src, const char *name, int nbind,
                        const char **dims, const int64_t *vals)
{
    sess t;
    sess_open(&t, false);
    const char *e = eval(&t, src);
    CHECK(!*e, "%s: %s", name, e);
    bs_ctx *c = bs_session_ctx(t.s);
    bs_id L = bs_name_find(t.s, "L")->id;
    bs_dtype dts[3] = {BS_F32, BS_BF16, BS_F64};
    double tol[3] = {2e-3, 6e-2, 1e-10};
    for (int k = 0; k < 3; k++) {
        if (!gpu->supports_dtype(gpu, dts[k])) continue;
        bs_plan_opts o = bs_plan_defaults();
        o.dtype = dts[k];
        for (int b = 0; b < nbind; b++) {
            o.bind_dim[o.nbind] = bs_dim_find(c, dims[b]);
            o.bind_value[o.nbind++] = vals[b];
        }
        char err[512];
        bs_plan *p = bs_plan_new(c, L, gpu, &o, err, sizeof err);
        CHECK(p, "%s %s: %s", name, bs_dtype_name(dts[k]), err);
        for (int s = 0; p && s < 3; s++)
            CHECK(bs_plan_step(p, NULL) == BS_OK, "%s step: %s", name, bs_plan_errmsg(p));
        bs_plan_free(p);
        bs_plan_check_result r;
        bs_status st = bs_plan_check(c, L, gpu, &o, bs_backend_cpu(), 0, &r, err, sizeof err);
        CHECK(st == BS_OK, "%s %s check: %s", name, bs_dtype_name(dts[k]), err);
        CHECK(r.compared > 10 && r.max_diff < tol[k], "%s %s: gpu vs %s differ by %g (%d tensors)",
              name, bs_dtype_name(dts[k]), r.other, r.max_diff, r.compared);
        printf("%s %s: largest difference from %s %.3g at %s\n", name, bs_dtype_name(dts[k]),
               r.other, r.max_diff, r.sizes);
    }
    sess_close(&t);
}

int main(void)
{
#ifdef BS_HAVE_CUDA
    bs_gpu_register();
#endif
    bs_backend *gpu = bs_backend_find("gpu");
    if (!gpu) {
        printf("skipped: this build has no CUDA backend\n");
        return 77;
    }
    char err[256];
    if (gpu->open(gpu, err, sizeof err)) {
        printf("skipped: %s\n", err);
        return 77;
    }
    bs_backend *cpu = bs_backend_cpu();
    cpu->open(cpu, err, sizeof err);
    const char *md[] = {"N", "D", "H"};
    int64_t mv[] = {256, 784, 1024};
    check_graph(gpu, MLP, "mlp", 3, md, mv);
    const char *xd[] = {"M", "K"};
    int64_t xv[] = {33, 17};
    check_graph(gpu, MIXED, "mixed", 2, xd, xv);

    /* :run gpu --quiet: the one line */
    sess t;
    sess_open(&t, true);
    CHECK(!*eval(&t, MLP), "mlp");
    size_t at = t.len;
    const char *e = eval(&t, ":run gpu N=4096 D=784 H=1024 steps=5 --check");
    CHECK(!*e, ":run gpu: %s", e);
    regex_t re;
    regcomp(&re,
            "^run gpu step_ms=[0-9]+\\.[0-9]+ fwd_ms=[0-9]+\\.[0-9]+ bwd_ms=[0-9]+\\.[0-9]+ "
            "peak_bytes=[0-9]+ max_diff=[0-9.]+(e[-+][0-9]+)?\n$",
            REG_EXTENDED);
    CHECK(regexec(&re, t.out + at, 0, NULL, 0) == 0, "printed '%s'", t.out + at);
    regfree(&re);
    printf("%s", t.out + at);
    sess_close(&t);

    /* :train on=gpu against the tape (f64 on both when the device has it) */
    double fin[2];
    for (int w = 0; w < 2; w++) {
        sess_open(&t, true);
        CHECK(!*eval(&t, MLP), "mlp");
        at = t.len;
        e = eval(&t, w ? ":train L steps=20 lr=0.1 momentum=0.9 on=gpu"
                       : ":train L steps=20 lr=0.1 momentum=0.9");
        CHECK(!*e, ":train: %s", e);
        fin[w] = strtod(t.out + at, NULL);
        sess_close(&t);
    }
    double tol = gpu->supports_dtype(gpu, BS_F64) ? 1e-9 : 1e-4;
    CHECK(fabs(fin[0] - fin[1]) <= tol * fmax(1, fabs(fin[0])), ":train tape %.17g, gpu %.17g",
          fin[0], fin[1]);
    gpu->close(gpu);
    cpu->close(cpu);
    if (failures) fprintf(stderr, "%d failure%s\n", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
