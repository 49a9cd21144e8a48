/* tests/bench/scalar_mlp.c: micrograd's demo at scalar granularity: an MLP 2 -> 16 -> 16 -> 1 with
 * ReLU over 100 points and a hinge loss plus L2, built and backpropagated one scalar node at a
 * time (about 65k nodes). Prints `ns_per_node X` (build + backward, best of several runs) and, as a
 * reference run in the same process, the time of the forward build alone. `--params` prints the
 * params' values in creation order and exits: bench_scalar_mlp.py builds the same graph from them
 * on micrograd's engine, in the same run, for the ratio. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backstep.h"

#define NPTS 100

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static bs_id P(bs_ctx *c, double v)
{
    bs_shape s = {0, {0}};
    return bs_leaf(c, &v, &s, BS_F64, true);
}

/* two interleaved half circles, a fixed formula (no random data) */
static void moons(double X[NPTS][2], double y[NPTS])
{
    for (int i = 0; i < NPTS; i++) {
        double t = M_PI * (i / 2) / (NPTS / 2 - 1);
        if (i % 2 == 0) {
            X[i][0] = cos(t);
            X[i][1] = sin(t);
            y[i] = -1;
        } else {
            X[i][0] = 1 - cos(t);
            X[i][1] = 0.5 - sin(t);
            y[i] = 1;
        }
    }
}

typedef struct {
    bs_id w1[16][2], b1[16], w2[16][16], b2[16], w3[16], b3;
    bs_id all[16 * 3 + 16 * 17 + 17]; /* every param in creation order (micrograd's parameters()) */
    int nall;
} mlp;

static void make_params(bs_ctx *c, mlp *m)
{
    bs_ctx_seed(c, 1337);
    int32_t first = bs_tape_len(c);
    for (int j = 0; j < 16; j++) {
        for (int i = 0; i < 2; i++) m->w1[j][i] = P(c, 2 * bs_rand_uniform(c) - 1);
        m->b1[j] = P(c, 0);
    }
    for (int j = 0; j < 16; j++) {
        for (int i = 0; i < 16; i++) m->w2[j][i] = P(c, 2 * bs_rand_uniform(c) - 1);
        m->b2[j] = P(c, 0);
    }
    for (int i = 0; i < 16; i++) m->w3[i] = P(c, 2 * bs_rand_uniform(c) - 1);
    m->b3 = P(c, 0);
    m->nall = 0;
    for (bs_id i = first; i < bs_tape_len(c); i++) m->all[m->nall++] = i;
}

/* act = b + sum_i w_i x_i, as micrograd's Neuron */
static bs_id neuron(bs_ctx *c, const bs_id *w, bs_id b, const bs_id *x, int n, int relu)
{
    bs_id act = b;
    for (int i = 0; i < n; i++) act = bs_apply2(c, BS_OP_ADD, act, bs_apply2(c, BS_OP_MUL, w[i], x[i]));
    return relu ? bs_apply1(c, BS_OP_RELU, act) : act;
}

static bs_id build(bs_ctx *c, const mlp *m, double X[NPTS][2], const double *y)
{
    bs_id total = BS_NONE;
    for (int p = 0; p < NPTS; p++) {
        bs_id x[2] = {bs_scalar(c, X[p][0], BS_F64), bs_scalar(c, X[p][1], BS_F64)}, h1[16], h2[16];
        for (int j = 0; j < 16; j++) h1[j] = neuron(c, m->w1[j], m->b1[j], x, 2, 1);
        for (int j = 0; j < 16; j++) h2[j] = neuron(c, m->w2[j], m->b2[j], h1, 16, 1);
        bs_id score = neuron(c, m->w3, m->b3, h2, 16, 0);
        /* hinge: relu(1 + -y * score) */
        bs_id l = bs_apply1(c, BS_OP_RELU,
                            bs_apply2(c, BS_OP_ADD, bs_scalar(c, 1, BS_F64),
                                      bs_apply2(c, BS_OP_MUL, bs_scalar(c, -y[p], BS_F64), score)));
        total = total == BS_NONE ? l : bs_apply2(c, BS_OP_ADD, total, l);
    }
    bs_id data = bs_apply2(c, BS_OP_MUL, total, bs_scalar(c, 1.0 / NPTS, BS_F64));
    /* L2 regularisation over every param, from the list of them (as micrograd's parameters()) */
    bs_id reg = BS_NONE;
    for (int k = 0; k < m->nall; k++) {
        bs_id i = m->all[k];
        bs_id sq = bs_apply2(c, BS_OP_MUL, i, i);
        reg = reg == BS_NONE ? sq : bs_apply2(c, BS_OP_ADD, reg, sq);
    }
    return bs_apply2(c, BS_OP_ADD, data, bs_apply2(c, BS_OP_MUL, reg, bs_scalar(c, 1e-4, BS_F64)));
}

int main(int argc, char **argv)
{
    static double X[NPTS][2], y[NPTS];
    moons(X, y);
    if (argc > 1 && !strcmp(argv[1], "--params")) {
        bs_ctx *c = bs_ctx_new();
        mlp m;
        make_params(c, &m);
        for (int k = 0; k < m.nall; k++) printf("%.17g\n", bs_node_get(c, m.all[k])->value.data[0]);
        bs_ctx_free(c);
        return 0;
    }
    /* One context: params once, then the graph is built and backpropagated 8 times, cutting the
     * tape back to the params in between (as a training loop that rebuilds its graph does). The
     * first build touches fresh memory (page faults): it is reported apart as the cold figure. */
    bs_ctx *c = bs_ctx_new();
    mlp m;
    make_params(c, &m);
    int32_t start = bs_tape_len(c);
    double best = 1e30, best_fwd = 1e30, cold = 0, loss = 0;
    int32_t nodes = 0;
    for (int rep = 0; rep < 8; rep++) {
        bs_tape_truncate(c, start);
        bs_zero_grad_all(c);
        double t0 = now();
        bs_id L = build(c, &m, X, y);
        double t1 = now();
        if (L < 0 || bs_backward(c, L, NULL, false) != BS_OK) {
            fprintf(stderr, "scalar_mlp: %s\n", bs_errmsg(c));
            return 1;
        }
        double t2 = now();
        nodes = bs_tape_len(c) - start;
        loss = bs_node_get(c, L)->value.data[0];
        if (rep == 0) {
            cold = t2 - t0;
            continue;
        }
        if (t2 - t0 < best) best = t2 - t0;
        if (t1 - t0 < best_fwd) best_fwd = t1 - t0;
    }
    bs_ctx_free(c);
    printf("nodes %d\nloss %.17g\n", nodes, loss);
    printf("cold_ns_per_node %.1f   (first build: fresh pages)\n", cold * 1e9 / nodes);
    printf("forward_ns_per_node %.1f\n", best_fwd * 1e9 / nodes);
    printf("backward_ns_per_node %.1f\n", (best - best_fwd) * 1e9 / nodes);
    printf("ns_per_node %.1f\n", best * 1e9 / nodes);
    printf("target 40 ns_per_node: %s (micrograd in the same run: bench_scalar_mlp.py)\n",
           best * 1e9 / nodes <= 40 ? "met" : "missed");
    return 0;
}
