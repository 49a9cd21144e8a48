/* tests/bench/bench_viz.c: how fast the window follows the REPL, for graphs of 50, 200 and 1,000
 * nodes: Graphviz layout alone; a statement that adds a node (view, relayout, redraw); a statement
 * that only changes values (view, redraw: no layout); a stepping highlight moving (view, redraw).
 * A new node is drawn at once with a quick placement when it can be (window.c's quick_layout);
 * Graphviz's layout follows at the next idle pump and its redraw at the pump after (no pump does
 * both): each measured too, apart, and summed with the first frame as the statement's whole cost.
 * Target: a redraw without layout within 16 ms (one frame at 60 Hz) for 200 nodes.
 * Each cell is "wall / cpu": wall-clock ms, and this process's CPU ms (all threads: software GL
 * draws in ours), which a busy machine does not inflate. Medians.
 * Runs under Xvfb like the window test (SDL's offscreen driver without Xvfb). */
#include "viz_test.h"
#include "viz_int.h"

#define REPS 15

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    char why[256], err[256];
    (void)vt_failures;
    if (!bs_window_available(why, sizeof why) || !bs_viz_have_graphviz(why, sizeof why)) {
        fprintf(stderr, "skipped: %s\n", why);
        return 77;
    }
    int offscreen = vt_display();
    bs_window *w = bs_window_open(err, sizeof err);
    if (!w && offscreen) {
        fprintf(stderr, "skipped: %s\n", err);
        return 77;
    }
    if (!w) {
        fprintf(stderr, "no window: %s\n", err);
        return 1;
    }
    /* optional arguments: the sizes to run (for profiling one of them) */
    int sizes[8] = {50, 200, 1000}, nsizes = 3;
    if (argc > 1) {
        nsizes = 0;
        for (int i = 1; i < argc && nsizes < 8; i++)
            sizes[nsizes++] = atoi(argv[i]);
    }
    printf("renderer: %s, window 1280x800, medians of %d runs (layout: of 3); wall / cpu ms\n",
           bs_window_renderer(w), REPS);
    /* the fixed cost of one frame with nothing on it (clear, present, read back one pixel): what
       the renderer costs whatever the graph; with software GL (Xvfb) most of a redraw */
    {
        bs_ctx *c = bs_ctx_new();
        bs_window_update(w, c, BS_NONE, NULL, err, sizeof err);
        double fw[REPS], fc[REPS];
        for (int r = 0; r < REPS; r++) {
            double t0 = vt_now_ms(), c0 = vt_cpu_ms();
            bs_window_redraw(w);
            viz_window_sync(w);
            fw[r] = vt_now_ms() - t0;
            fc[r] = vt_cpu_ms() - c0;
        }
        printf("empty frame: %.1f / %.1f\n", median(fw, REPS), median(fc, REPS));
        bs_ctx_free(c);
    }
    printf("%6s  %13s  %13s  %13s  %13s\n", "nodes", "layout", "new node", "values", "highlight");
    bool met = true, met_new = true;
    for (size_t s = 0; s < (size_t)nsizes; s++) {
        bs_ctx *c = bs_ctx_new();
        bs_id root = vt_build_mlp(c, sizes[s], false);
        int reps = sizes[s] >= 1000 ? 5 : REPS;
        double wall[4][REPS], cpu[4][REPS];

        /* layout alone */
        bs_view *v = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
        for (int r = 0; r < 3; r++) {
            double t0 = vt_now_ms(), c0 = vt_cpu_ms();
            bs_layout *l = bs_viz_layout(v, err, sizeof err);
            wall[0][r] = vt_now_ms() - t0;
            cpu[0][r] = vt_cpu_ms() - c0;
            bs_layout_free(l);
        }
        int nodes = v->nnodes;
        bs_view_free(v);
        bs_window_update(w, c, BS_NONE, NULL, err, sizeof err);
        bs_window_redraw(w);

        bs_view_state st;
        bs_view_state_init(&st);
        st.stepping = true;
        int layouts = 0, deferred = 0;
        double swall[REPS], scpu[REPS]; /* the deferred layout after a new node (an idle pump) */
        double rwall[REPS], rcpu[REPS]; /* and the pump after it, which draws it */
        bool quick_r[REPS];
        bool relayout = false;
        for (int kind = 1; kind < 4; kind++) {
            if (kind == 3) { /* values must not have relayouted */
                relayout |= bs_window_layout_count(w) != layouts;
                /* starting to step lays out once, with room for the VJP labels (not timed) */
                bs_window_update(w, c, BS_NONE, &st, err, sizeof err);
                bs_window_redraw(w);
            }
            if (kind >= 2)
                layouts = bs_window_layout_count(w);
            for (int r = 0; r < reps; r++) {
                if (kind == 2)   /* an optimizer step: values only */
                {
                    double v = bs_node_get(c, 4)->value.data[0] + 0.01;
                    bs_tensor t = {BS_F64, bs_node_get(c, 4)->value.shape, &v};
                    bs_ctx_set_no_grad(c, true);
                    bs_update_inplace(c, 4, &t);
                    bs_ctx_set_no_grad(c, false);
                }
                int before = bs_window_layout_count(w);
                double t0 = vt_now_ms(), c0 = vt_cpu_ms();
                if (kind == 1)   /* a statement that adds a node: relayout */
                    root = bs_apply1(c, BS_OP_TANH, root);
                if (kind == 3) { /* the stepper's highlight moves one node */
                    st.current = root - r;
                    bs_view_state_set_step(&st, root - r, BS_VSTEP_DONE);
                }
                bs_window_update(w, c, BS_NONE, kind == 3 ? &st : NULL, err, sizeof err);
                bs_window_redraw(w);
                viz_window_sync(w);
                wall[kind][r] = vt_now_ms() - t0;
                cpu[kind][r] = vt_cpu_ms() - c0;
                if (kind == 1) { /* the rest of it: Graphviz's layout at the next idle pump */
                    bool quick;
                    viz_window_layout(w, &quick);
                    deferred += quick;
                    quick_r[r] = quick;
                    t0 = vt_now_ms(), c0 = vt_cpu_ms();
                    for (int p = 0; p < 8 && bs_window_layout_count(w) == before; p++)
                        bs_window_pump(w, 0, NULL);   /* a window event first may take one */
                    swall[r] = vt_now_ms() - t0;
                    scpu[r] = vt_cpu_ms() - c0;
                    t0 = vt_now_ms(), c0 = vt_cpu_ms();
                    bs_window_pump(w, 0, NULL);       /* the next pump draws the settled layout */
                    viz_window_sync(w);
                    rwall[r] = vt_now_ms() - t0;
                    rcpu[r] = vt_cpu_ms() - c0;
                    if (bs_window_layout_count(w) != before + 1)
                        printf("  (a new node did not get exactly one Graphviz layout: a bug)\n");
                }
            }
        }
        /* the parts of a redraw: building the view alone, and drawing the frame alone */
        double part[2][REPS];
        for (int r = 0; r < reps; r++) {
            double c0 = vt_cpu_ms();
            bs_view *pv = bs_view_build(c, BS_NONE, &st, BS_VIEW_ALL, err, sizeof err);
            part[0][r] = vt_cpu_ms() - c0;
            bs_view_free(pv);
            c0 = vt_cpu_ms();
            bs_window_redraw(w);
            viz_window_sync(w);
            part[1][r] = vt_cpu_ms() - c0;
        }
        bs_view_state_clear(&st);
        if (relayout || bs_window_layout_count(w) != layouts)
            printf("  (values or highlights relayouted: a bug)\n");
        printf("%6d", nodes);
        for (int kind = 0; kind < 4; kind++) {
            int n = kind == 0 ? 3 : reps;
            double mw = median(wall[kind], n), mc = median(cpu[kind], n);
            printf("  %6.1f / %4.1f", mw, mc);
            if (sizes[s] == 200 && kind >= 2 && mc > 16)
                met = false;
        }
        printf("   (cpu: view build %.1f, draw %.1f)\n", median(part[0], reps), median(part[1], reps));
        /* a new node drawn at once with a quick placement leaves Graphviz's layout to the next
           idle pump: its cost, and the whole of a statement's work */
        if (deferred) {
            double tot[REPS], dw[REPS], dc[REPS], ew[REPS], ec[REPS];
            int nd = 0;
            for (int r = 0; r < reps; r++) {
                tot[r] = cpu[1][r] + scpu[r] + rcpu[r];
                if (quick_r[r]) { /* the settle's cost where there was one */
                    dw[nd] = swall[r];
                    ew[nd] = rwall[r];
                    ec[nd] = rcpu[r];
                    dc[nd++] = scpu[r];
                }
            }
            printf("%6s  new node: %d of %d drawn before Graphviz; its layout at the next idle pump "
                   "%.1f / %.1f, the redraw at the pump after %.1f / %.1f; whole statement cpu "
                   "%.1f\n", "", deferred, reps, median(dw, nd), median(dc, nd), median(ew, nd),
                   median(ec, nd), median(tot, reps));
        }
        if (sizes[s] == 200 && median(cpu[1], reps) > 16)
            met_new = false;
        bs_ctx_free(c);
    }
    printf("target (200 nodes, redraw without layout <= 16 ms of work): %s\n", met ? "met" : "MISSED");
    printf("target (200 nodes, the frame after a new statement <= 16 ms of work): %s\n",
           met_new ? "met" : "MISSED");
    bs_window_close(w);
    return 0;
}
