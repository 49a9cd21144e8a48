/* viz/viz_mod.h: the tables of viz's two modules, which the program loads on first use
 * (core/module.h): libbsgv.so, gv.c with Graphviz (layout and export), and libbswin.so,
 * window.c with SDL2 and SDL2_ttf (the live window). viz/lazy.c is the program's side: each of
 * gv.c's and window.c's functions loads its module and calls the module's own. A module reaches
 * core and the rest of viz (the view, the theme, PNG) in the program, which exports them; the
 * window module reaches Graphviz's layout through lazy.c like any caller. */
#ifndef BS_VIZ_MOD_H
#define BS_VIZ_MOD_H

#include "viz.h"

#define BS_GV_ABI 1
typedef struct {
    unsigned abi, size;
    bs_status (*export_)(const bs_ctx *c, const char *path, bs_id root, bool grads,
                         const bs_view_state *st, char *err, size_t len);
    bs_status (*export_at)(const bs_view *v, const bs_layout *l, const char *path, char *err,
                           size_t len);
    bs_status (*export_ex)(const bs_ctx *c, const char *path, const bs_view_opts *o, bool grads,
                           const bs_view_state *st, bs_export_style style, char *err, size_t len);
    bs_status (*export_view)(const bs_view *v, const char *path, char *err, size_t len);
    char *(*dot)(const bs_view *v, char *err, size_t len);
    bool (*have_graphviz)(char *why, size_t len);
    bs_layout *(*layout)(const bs_view *v, char *err, size_t len);
    bs_layout *(*layout_ex)(const bs_view *v, double aspect, bool labels, char *err, size_t len);
    bool (*prefer_tb)(const bs_view *v, double aspect);
    void (*layout_free)(bs_layout *l);
} bs_gv_api;

#define BS_WIN_ABI 1
typedef struct {
    unsigned abi, size;
    bool (*available)(char *why, size_t len);
    bs_window *(*open)(char *err, size_t len);
    void (*close)(bs_window *w);
    bs_status (*update)(bs_window *w, const bs_ctx *c, bs_id root, const bs_view_state *st,
                        char *err, size_t len);
    bs_status (*update_opts)(bs_window *w, const bs_ctx *c, const bs_view_opts *o,
                             const bs_view_state *st, char *err, size_t len);
    int (*pump)(bs_window *w, int timeout_ms, bs_window_event *ev);
    void (*redraw)(bs_window *w);
    void (*select)(bs_window *w, bs_id node);
    void (*fit)(bs_window *w);
    bs_status (*screenshot)(bs_window *w, const char *png, char *err, size_t len);
    bs_status (*plot)(bs_window *w, const double *y, int n, const char *title, char *err,
                      size_t len);
    int (*layout_count)(const bs_window *w);
    const char *(*renderer)(const bs_window *w);
} bs_win_api;

/* the modules' entry functions (the only symbols they export) */
#define BS_MOD_EXPORT __attribute__((visibility("default")))
BS_MOD_EXPORT const bs_gv_api *bs_gv_module(void);
BS_MOD_EXPORT const bs_win_api *bs_win_module(void);

#endif
