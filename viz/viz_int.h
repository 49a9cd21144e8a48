/* viz/viz_int.h: what viz's own files share and nothing else needs: the view's string arena,
 * text metrics for layout sizes, number formatting, the structure hash, the "not built" messages. */
#ifndef BS_VIZ_INT_H
#define BS_VIZ_INT_H

#include <stdarg.h>

#include "viz.h"

/* ==== Messages ==== */
#define BS_NO_GRAPHVIZ_MSG "this build has no Graphviz (install libgraphviz-dev and rebuild)"
#define BS_NO_SDL_MSG "this build has no SDL2 window (install libsdl2-dev and libsdl2-ttf-dev and rebuild)"

/* printf into err (may be NULL); returns st so callers can `return viz_fail(...)` */
bs_status viz_fail(bs_status st, char *err, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ==== The view's memory: strings and heatmaps live in blocks freed with the view ==== */
struct bs_view_mem {
    struct bs_view_mem *next;
    size_t used, cap;
    char buf[];
};
char *viz_strdup(bs_view *v, const char *s);        /* NULL on out of memory */
char *viz_strfmt(bs_view *v, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void *viz_alloc(bs_view *v, size_t n);              /* zeroed, 16-byte aligned */

/* ==== Text and numbers ==== */
/* Estimated width of UTF-8 text in DejaVu Sans at `size` points (layout sizes; the window
 * measures the real glyphs and shrinks text that would not fit). */
float viz_text_width(const char *s, float size);
/* A number with 4 significant digits the way the graph shows it: 0.75, -1.589, 1e-05, nan. */
char *viz_num(double v, char *buf, size_t len);

/* The room the window's layout gives a stepper label while stepping (the label is shrunk to it) */
#define VIZ_LABEL_SCALAR "VJP -0.0000"
#define VIZ_LABEL_TENSOR "VJP (00, 00) [-0.0000, -0.0000, \xe2\x80\xa6]"

/* Layout constants, points */
#define VIZ_PAD 6.0f           /* inner padding of a node */
#define VIZ_LINE 1.3f          /* line height as a multiple of the font size */
#define VIZ_HEAT_GAP 6.0f      /* between text and heatmap, and between the two heatmaps */
/* size of a node's heatmap in points: cell side for its grid */
float viz_heat_cell(const bs_heat *h);
void viz_heat_grid(const bs_shape *s, int *rows, int *cols);

/* ==== Colours ==== */
bs_rgb viz_mix(bs_rgb a, bs_rgb b, double t);       /* a + (b - a) t, t in [0, 1] */
bs_rgb viz_heat_color(const bs_heat *h, float v);   /* diverging map around 0 */

/* ==== Window (benchmarks) ==== */
/* wait until the renderer has really drawn the last frame (reads one pixel back) */
/* pixels per layout point as the window draws now (benchmarks: text size at fit) */
float viz_window_zoom(const bs_window *w);
/* the layout the window draws now; *quick: a quick placement of appended nodes that Graphviz's
   layout replaces at the next idle pump (tests) */
const bs_layout *viz_window_layout(const bs_window *w, bool *quick);
/* bs_window_screenshot of the frame as it is now, a quick placement included (tests) */
bs_status viz_window_screenshot_now(bs_window *w, const char *png, char *err, size_t len);
void viz_window_sync(bs_window *w);

/* ==== Groups (group.c) ==== */
typedef struct {            /* string -> int, open addressing */
    char **key;
    int *val;
    int cap, n;
} stab;

enum { VG_SCOPE, VG_CHAIN, VG_LEAVES };
typedef struct {
    char *name, *title;     /* malloc'd */
    int kind;               /* VG_* */
    int nmem, nparams, ncalls;
    bs_id last, anchor;     /* the last member (the box's id); a chain's named node */
    bool collapsed, ctor, param;
    int cluster;            /* unused: open groups are clusters by path */
    int home;               /* the cluster the box sits in, -1 */
    int consumer;           /* VG_LEAVES: the group that uses them, -1 */
} viz_group;
typedef struct {
    char *name;
    int parent, calls;
} viz_cluster;
typedef struct {
    const bs_view_opts *o;
    bool big;               /* collapse (ALL, or AUTO over BS_VIEW_AUTO_NODES) */
    int32_t n;
    int32_t *gid;           /* per tape node: its group, -1: on its own */
    int32_t *home;          /* per tape node: the cluster it is drawn in, -1 */
    viz_group *g;
    int ng, capg;
    viz_cluster *cl;
    int ncl, capcl;
    int unused;             /* the group of unnamed leaves nothing uses, -1 */
    int32_t *sgid, *scl;    /* per scope, memoised */
    char *sdone, *scounted;
    stab gkeys, ckeys, attr;
} viz_groups;
bool viz_groups_build(viz_groups *G, const bs_ctx *c, const int *sel, int32_t nsel,
                      const bs_view_opts *o);
bool viz_group_shown(const viz_groups *G, int32_t i); /* drawn as itself (not in a closed box) */
void viz_groups_free(viz_groups *G);

/* ==== Hashing ==== */
uint64_t viz_hash(uint64_t h, const void *p, size_t n); /* FNV-1a, start with VIZ_HASH0 */
#define VIZ_HASH0 1469598103934665603ull

#endif
