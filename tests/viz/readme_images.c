/* tests/viz/readme_images.c: makes the README's pictures with backstep itself: the 2-2-1 network
 * of the reference texts, stepped backward with core's iterator the way :step does, shown in the
 * window (assets/readme-window.png) and exported with its grads (assets/readme-graph.svg, .png).
 * Usage: readme_images ASSETS_DIR   (run by `ninja -C BUILD readme-images`; needs Xvfb or a display) */
#include "viz_test.h"

/* the stepping state after `steps` steps of a backward pass from root, as :step shows it */
static void step_state(bs_ctx *c, bs_id root, int steps, bs_view_state *st)
{
    bs_view_state_init(st);
    bs_view_state_begin(st, c, root);
    bs_bwd *b = bs_backward_begin(c, root, NULL, true, true);
    if (!b)
        return;
    bs_step s;
    for (int i = 0; i < steps && bs_backward_next(b, &s) == 1; i++)
        bs_view_state_step(st, &s);
    bs_backward_end(b);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "assets";
    (void)vt_failures;
    char err[256], path[512];
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    bs_node_set_text(c, n.z1, "w11 * x1 + w12 * x2 + b1");
    bs_node_set_text(c, n.L, "bce(sigmoid(z3), y)");

    /* the exported diagram: after L.backward(), with grads */
    if (bs_backward(c, n.L, NULL, true) != BS_OK) {
        fprintf(stderr, "backward: %s\n", bs_errmsg(c));
        return 1;
    }
    const char *ext[] = {"svg", "png"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/readme-graph.%s", dir, ext[i]);
        if (bs_viz_export(c, path, n.L, true, NULL, err, sizeof err) != BS_OK) {
            fprintf(stderr, "%s: %s\n", path, err);
            return 1;
        }
        printf("wrote %s\n", path);
    }

    /* the window: a fresh pass stepped to z3, with z3's details open */
    bs_zero_grad_all(c);
    for (bs_id i = 0; i < bs_tape_len(c); i++)
        bs_zero_grad(c, i);
    bs_view_state st;
    step_state(c, n.L, 4, &st);
    st.selected = n.z3;
    int offscreen = vt_display();
    bs_window *w = bs_window_open(err, sizeof err);
    if (!w && offscreen) {
        fprintf(stderr, "skipped: %s\n", err);
        return 77;
    }
    if (!w) {
        fprintf(stderr, "window: %s\n", err);
        return 1;
    }
    if (bs_window_update(w, c, n.L, &st, err, sizeof err) != BS_OK) {
        fprintf(stderr, "update: %s\n", err);
        return 1;
    }
    bs_window_pump(w, 0, NULL);
    snprintf(path, sizeof path, "%s/readme-window.png", dir);
    if (bs_window_screenshot(w, path, err, sizeof err) != BS_OK) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    printf("wrote %s\n", path);
    bs_window_close(w);
    bs_view_state_clear(&st);
    bs_ctx_free(c);
    return 0;
}
