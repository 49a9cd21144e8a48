/* core/plan_int.h: the replay plan's own structures, shared by its three files: plan.c
 * (building: nodes, shapes, initial values, buffers, folds and fusions), plan_run.c (running
 * and reading back) and plan_check.c (comparing two engines, --check). */
#ifndef BS_PLAN_INT_H
#define BS_PLAN_INT_H

#include <time.h>

#include "core_int.h"


enum {
    PN_MAIN = 1,   /* replayed every step (an ancestor of the root through op inputs) */
    PN_INIT = 2,   /* needed for a param(expr) leaf's initial value (expr's subgraph) */
    PN_HOST = 4    /* its value is computed on the host (leaves, integer constants, init nodes) */
};

typedef struct {
    bs_id id;
    char name[64];                  /* the tape's display name, for messages */
    bs_op op;                       /* BS_OP_LEAF for leaves */
    int nin;
    int in[BS_MAX_INPUTS];          /* plan indices of the inputs */
    bs_attr attr;                   /* reshape's target at the plan's sizes */
    bs_init_kind init;
    int init_src;                   /* plan index (BS_INIT_COPY) or -1 */
    double init_arg[2];
    int8_t sym[BS_MAX_DIMS];
    bs_shape rec_shape;             /* as recorded */
    bs_shape shape;                 /* at the plan's sizes */
    bs_dtype tape_dtype;            /* the node's dtype on the tape */
    bs_dtype dtype;                 /* in the plan: BS_I64, or the plan's float dtype */
    unsigned mark;                  /* PN_* */
    bool rg, param, no_grad, resized;
    bool uses_sym;                  /* its shape follows some size variable */
    bool constant;                  /* main but computed on the host (integer op nodes) */
    bool vjp_in[BS_MAX_INPUTS];     /* input k gets this node's VJP in backward */
    bool alias_in[BS_MAX_INPUTS];   /* ...by sharing this node's grad buffer (no VJP runs) */
    int gown;                       /* plan index of the node whose grad buffer this one uses */
    int fused_act, fused_add;       /* bias + activation pair run as one loop (-1: none) */
    bool fused_bwd;                 /* the pair's backward is fused too */
    bool folded;                    /* a transpose its matmuls read in place (no copy, no grad) */
    int fold_src[BS_MAX_INPUTS];    /* matmul: input k is folded transpose node (-1: none) */
    void *val, *grad, *m, *v;       /* backend buffers (grad may be another node's: gown) */
    void *fval;                     /* an integer tensor's values as floats, for float ops */
    bool need_fval;                 /* ...which some float op reads */
    double *host;                   /* host value (numel doubles) while built, or NULL */
    bs_exec ex;
    double fwd_flops, bwd_flops;
    size_t bytes;
    double *tf, *tb;                /* (cap) ms per timed step */
    int32_t ckpt;                   /* the checkpoint it was made in (0: none), and */
    bool scratch;                   /* ...its value (and grad) is the checkpoint's own: kept in the
                                       buffer every checkpoint shares, made again in backward */
} pnode;

struct bs_plan {
    bs_backend *be;
    bs_plan_opts o;
    int n;                          /* nodes */
    pnode *nodes;                   /* (n) in tape order */
    int root;                       /* plan index of the root */
    bool do_bwd;
    int64_t t;                      /* optimizer steps taken */
    int64_t dims[BS_MAX_DIMVARS];   /* size variable values in this plan */
    int derived[BS_MAX_DIMVARS];    /* a derived size's base + 1 (0: its own) */
    char dim_name[BS_MAX_DIMVARS][32];
    bool dim_used[BS_MAX_DIMVARS];
    int ndim;
    size_t bytes;                   /* everything allocated on the backend */
    bool keep_host;                 /* keep leaves' host values (for --check) */
    bool *ginit;                    /* (n) grad buffer written in this backward pass */
    void *ckbuf;                    /* the checkpoints' shared buffer (NULL: none) */
    size_t ckbytes;
    int nckpt;
    double recompute_flops;
    int *sched, nsched;             /* the backward pass's steps, plan indices in the order they
                                       run: core's one schedule (bs__sched_build), as eager */
    /* timings */
    bool recording;
    int steps, cap;
    double *step_ms, *fwd_ms, *bwd_ms, *opt_ms; /* (cap) */
    char err[512];
};

static inline double bs__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* bytes of one element in a backend buffer (i64 is stored as int32) */
static inline size_t elem_size(bs_dtype t) { return t == BS_I64 ? 4 : bs_dtype_size(t); }

static inline size_t buf_bytes(const pnode *n) { return (size_t)bs_shape_numel(&n->shape) * elem_size(n->dtype); }


/* sets the plan's message; returns st */
bs_status bs__plan_fail(bs_plan *p, bs_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* a buffer of bytes on the plan's backend, counted in its bytes (NULL when out of memory) */
void *bs__plan_alloc(bs_plan *p, size_t bytes);
/* bs_plan_new's work; keep_host: keep the leaves' host values (--check); shapes_only: stop after
   the shapes (be may be NULL) */
bs_plan *bs__plan_build(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o,
                        bool keep_host, bool shapes_only, char *err, size_t errlen);
/* a folded transpose's value, made when someone reads it */
void bs__plan_materialize(bs_plan *p, pnode *n);

#endif
