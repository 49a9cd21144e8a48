/* viz/lazy.c: the program's side of viz's modules (viz/viz_mod.h). Built into the program in
 * place of gv.c (where Graphviz is found: BS_GV_MODULE) and of window.c (where SDL2 is too:
 * BS_WIN_MODULE): each of their functions loads the module on its first call and calls the
 * module's own, so that a start, and every session that never lays out, exports or opens the
 * window, maps none of Graphviz's or SDL's libraries. A module that cannot be loaded makes each
 * call fail as a build without that part does, with the loader's reason. */
#include "viz_int.h"
#include "viz_mod.h"

#include <pthread.h>

#include "module.h"

#ifdef BS_GV_MODULE

/* ==== Graphviz: libbsgv.so ==== */

static const bs_gv_api *gv_api;
static char gv_err[600];
static pthread_once_t gv_once = PTHREAD_ONCE_INIT;

static void gv_load(void)
{
    static const bs_module_spec spec = {"libbsgv.so", "viz", "BACKSTEP_GV_MODULE", "bs_gv_module",
                                        BS_GV_ABI, sizeof(bs_gv_api), "Graphviz (libbsgv.so)"};
    gv_api = bs_module_load(&spec, gv_err, sizeof gv_err);
}

/* the module's table, or NULL with the reason in err */
static const bs_gv_api *gv(char *err, size_t len)
{
    pthread_once(&gv_once, gv_load);
    if (!gv_api) viz_fail(BS_ERR_UNSUPPORTED, err, len, "%s", gv_err);
    return gv_api;
}

bs_status bs_viz_export(const bs_ctx *c, const char *path, bs_id root, bool grads,
                        const bs_view_state *st, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->export_(c, path, root, grads, st, err, len) : BS_ERR_UNSUPPORTED;
}

bs_status bs_viz_export_at(const bs_view *v, const bs_layout *l, const char *path, char *err,
                           size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->export_at(v, l, path, err, len) : BS_ERR_UNSUPPORTED;
}

bs_status bs_viz_export_ex(const bs_ctx *c, const char *path, const bs_view_opts *o, bool grads,
                           const bs_view_state *st, bs_export_style style, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->export_ex(c, path, o, grads, st, style, err, len) : BS_ERR_UNSUPPORTED;
}

bs_status bs_viz_export_view(const bs_view *v, const char *path, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->export_view(v, path, err, len) : BS_ERR_UNSUPPORTED;
}

char *bs_viz_dot(const bs_view *v, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->dot(v, err, len) : NULL;
}

bool bs_viz_have_graphviz(char *why, size_t len)
{
    const bs_gv_api *m = gv(why, len);
    return m ? m->have_graphviz(why, len) : false;
}

bs_layout *bs_viz_layout(const bs_view *v, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->layout(v, err, len) : NULL;
}

bs_layout *bs_viz_layout_ex(const bs_view *v, double aspect, bool labels, char *err, size_t len)
{
    const bs_gv_api *m = gv(err, len);
    return m ? m->layout_ex(v, aspect, labels, err, len) : NULL;
}

bool bs_viz_prefer_tb(const bs_view *v, double aspect)
{
    const bs_gv_api *m = gv(NULL, 0);
    return m ? m->prefer_tb(v, aspect) : false;
}

void bs_layout_free(bs_layout *l)
{
    if (!l) return;
    const bs_gv_api *m = gv(NULL, 0); /* loaded: the layout came from it */
    if (m) m->layout_free(l);
}

#endif /* BS_GV_MODULE */

#ifdef BS_WIN_MODULE

/* ==== The window: libbswin.so ==== */

static const bs_win_api *win_api;
static char win_err[600];
static pthread_once_t win_once = PTHREAD_ONCE_INIT;

static void win_load(void)
{
    static const bs_module_spec spec = {"libbswin.so", "viz", "BACKSTEP_WIN_MODULE",
                                        "bs_win_module", BS_WIN_ABI, sizeof(bs_win_api),
                                        "the graph window (libbswin.so)"};
    win_api = bs_module_load(&spec, win_err, sizeof win_err);
}

static const bs_win_api *win(char *err, size_t len)
{
    pthread_once(&win_once, win_load);
    if (!win_api) viz_fail(BS_ERR_UNSUPPORTED, err, len, "%s", win_err);
    return win_api;
}

/* A window exists only when the module was loaded: the calls that take one use the table as
 * it is (NULL when nothing was loaded, and then w is NULL too). */
bool bs_window_available(char *why, size_t len)
{
    const bs_win_api *m = win(why, len);
    return m ? m->available(why, len) : false;
}

bs_window *bs_window_open(char *err, size_t len)
{
    const bs_win_api *m = win(err, len);
    return m ? m->open(err, len) : NULL;
}

void bs_window_close(bs_window *w)
{
    if (w) win_api->close(w);
}

bs_status bs_window_update(bs_window *w, const bs_ctx *c, bs_id root, const bs_view_state *st,
                           char *err, size_t len)
{
    const bs_win_api *m = win(err, len);
    return m ? m->update(w, c, root, st, err, len) : BS_ERR_UNSUPPORTED;
}

bs_status bs_window_update_opts(bs_window *w, const bs_ctx *c, const bs_view_opts *o,
                                const bs_view_state *st, char *err, size_t len)
{
    const bs_win_api *m = win(err, len);
    return m ? m->update_opts(w, c, o, st, err, len) : BS_ERR_UNSUPPORTED;
}

int bs_window_pump(bs_window *w, int timeout_ms, bs_window_event *ev)
{
    if (w) return win_api->pump(w, timeout_ms, ev);
    if (ev) {
        ev->kind = BS_WEV_NONE;
        ev->node = BS_NONE;
        ev->group[0] = 0;
    }
    return 0;
}

void bs_window_redraw(bs_window *w)
{
    if (w) win_api->redraw(w);
}

void bs_window_select(bs_window *w, bs_id node)
{
    if (w) win_api->select(w, node);
}

void bs_window_fit(bs_window *w)
{
    if (w) win_api->fit(w);
}

bs_status bs_window_screenshot(bs_window *w, const char *png, char *err, size_t len)
{
    const bs_win_api *m = win(err, len);
    return m ? m->screenshot(w, png, err, len) : BS_ERR_UNSUPPORTED;
}

bs_status bs_window_plot(bs_window *w, const double *y, int n, const char *title, char *err,
                         size_t len)
{
    const bs_win_api *m = win(err, len);
    return m ? m->plot(w, y, n, title, err, len) : BS_ERR_UNSUPPORTED;
}

int bs_window_layout_count(const bs_window *w)
{
    return w ? win_api->layout_count(w) : 0;
}

const char *bs_window_renderer(const bs_window *w)
{
    return w ? win_api->renderer(w) : "";
}

#endif /* BS_WIN_MODULE */
