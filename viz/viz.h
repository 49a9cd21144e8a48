/* viz/viz.h: the public contract of backstep's visualizer: the view model of a graph, Graphviz
 * layout and export, the live SDL2 window, and the terminal drawing.
 *
 * Data flow
 *   tape (bs_ctx) + root + stepping state ─► bs_view (the view model: nodes, edges, labels, state,
 *   colours) ─► every renderer: bs_viz_export (Graphviz: .dot .svg .png .pdf), bs_window (SDL2,
 *   drawing Graphviz's layout itself), bs_viz_ascii (terminal). No renderer reads the tape.
 *
 * Ownership
 *   - A bs_view is a snapshot: it copies every label, preview and heatmap it needs, so it stays
 *     valid when the tape changes or is reset. bs_view_free() releases it. Its fields are public
 *     for reading (tests, the REPL); treat them as read-only.
 *   - bs_view_state belongs to the caller (the REPL's stepper). viz only reads it. Its arrays are
 *     grown by the bs_view_state_* functions and released by bs_view_state_clear().
 *   - bs_viz_ascii() returns malloc'd text; the caller frees it.
 *   - bs_layout (bs_viz_layout) is owned by the caller; bs_layout_free() releases it.
 *   - A bs_window owns its SDL window, renderer, fonts, its current view and layout. It keeps no
 *     pointer into the bs_ctx between calls. bs_window_close() releases everything.
 *   - The theme (assets/theme.conf) is compiled in; bs_theme_get() returns a pointer to static data.
 *
 * Errors
 *   Functions that can fail return a bs_status and write a one-line message into the caller's
 *   buffer (err, len; err may be NULL). A build without Graphviz or SDL2 keeps every function:
 *   those that need the missing part return BS_ERR_UNSUPPORTED with a message saying what to
 *   install ("this build has no Graphviz (install libgraphviz-dev and rebuild)"). bs_window_open()
 *   returns NULL with the reason when there is no display; that is not an error to report loudly,
 *   the REPL prints it once as a note. Nothing here prints, exits or aborts.
 *
 * Threads: none. Graphviz and SDL keep process-wide state; use viz from one thread. At most one
 * bs_window is open at a time.
 */
#ifndef BS_VIZ_H
#define BS_VIZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backstep.h"

/* ==== The theme ==== */
typedef struct {
    uint8_t r, g, b;
} bs_rgb;

/* Every key of assets/theme.conf, in one list: X(key, kind) with kind C (colour) or N (number). */
#define BS_THEME_KEYS(X)                                                                          \
    X(background, C) X(panel, C) X(panel_border, C) X(ink, C) X(ink_muted, C) X(value_ink, C)   \
    X(grad_ink, C) X(op_fill, C) X(op_border, C) X(param_fill, C) X(param_border, C)             \
    X(input_fill, C) X(input_border, C) X(const_fill, C) X(const_border, C) X(root_fill, C)      \
    X(root_border, C) X(current_border, C) X(selected_border, C) X(pending_fill, C)              \
    X(pending_border, C) X(pending_ink, C) X(detached_border, C) X(freed_ink, C)                 \
    X(rebound_ink, C) X(edge, C) X(edge_step, C) X(edge_copy, C) X(edge_label_fill, C)           \
    X(grad_small, C) X(grad_mid, C) X(grad_big, C) X(grad_vanish, N) X(grad_explode, N)          \
    X(heat_neg, C) X(heat_zero, C) X(heat_pos, C) X(plot_line, C) X(plot_grid, C)                \
    X(group_fill, C) X(group_border, C) X(cluster_fill, C) X(cluster_border, C)                  \
    X(font_size, N) X(small_font_size, N)

#define BS_THEME_FIELD_C(key) bs_rgb key;
#define BS_THEME_FIELD_N(key) double key;
#define BS_THEME_FIELD(key, kind) BS_THEME_FIELD_##kind(key)
typedef struct {
    BS_THEME_KEYS(BS_THEME_FIELD)
} bs_theme;
#undef BS_THEME_FIELD

/* The active theme: the compiled-in assets/theme.conf, or the file named by the environment
 * variable BACKSTEP_THEME if that parsed (it is read on the first call). Never NULL. */
const bs_theme *bs_theme_get(void);
/* Replace the active theme by a theme file (keys missing there keep their value). On error the
 * theme is unchanged and err says which line is wrong. */
bs_status bs_theme_load(const char *path, char *err, size_t len);
/* Use a built-in theme ("default": assets/theme.conf; "projector": bigger type, white ground,
 * darker ink) or, for any other name, a theme file. On error the theme is unchanged. */
bs_status bs_theme_use(const char *name, char *err, size_t len);
/* the theme in use: "default", "projector", or the file it was read from */
const char *bs_theme_name(void);
/* why $BACKSTEP_THEME could not be used (missing, unreadable, garbage), or NULL */
const char *bs_theme_env_error(void);

/* Graphviz's layout time grows much faster than the graph, and fastest with long edges (a value
   used far from where it was made: dot threads a virtual node through every rank it skips). The
   window and the laid-out exports (.svg .png .pdf) refuse a graph of more nodes than
   BS_VIZ_MAX_LAYOUT, or whose cost (nodes, plus the ranks skipped by the edges out of the one node
   that skips most, bs_viz_layout_cost: measured, 2,600 lays out in 0.6 s, 10,200 in 4.7 s,
   22,800 in 15 s; a 1,000-node MLP costs 1,200 and takes 0.2 s) passes BS_VIZ_MAX_COST (BS_ERR_VALUE, the message says what to do); .dot is written at any size. Past
   BS_VIZ_TUNE_NODES the layout's effort is bounded. */
#define BS_VIZ_MAX_LAYOUT 2000
#define BS_VIZ_MAX_COST 5000
#define BS_VIZ_TUNE_NODES 80
#define BS_VIZ_MAX_ASCII 1000 /* the terminal drawing refuses larger graphs the same way */
/* Colour of a gradient magnitude (mean |g|) on the theme's log scale; NaN gives theme edge. */
bs_rgb bs_theme_grad_color(double magnitude);
/* "#rrggbb" of c into buf (8 bytes); returns buf */
char *bs_rgb_hex(bs_rgb c, char buf[8]);

/* ==== Stepping state (owned by the caller, read by every renderer) ==== */
typedef enum {
    BS_VSTEP_NONE = 0,   /* not on a pass being stepped: drawn normally */
    BS_VSTEP_PENDING,    /* on the pass, not reached yet: greyed */
    BS_VSTEP_CURRENT,    /* the node this step processes: highlighted */
    BS_VSTEP_DONE        /* processed: its grad is shown */
} bs_vstep;

typedef struct {
    bs_id to;            /* the consumer node */
    int slot;            /* which input of `to`: the edge is to->in[slot] -> to */
    char text[64];       /* what the edge shows: "VJP -1.589" */
} bs_view_edge_label;

typedef struct {
    bool stepping;       /* a backward pass is being stepped: per-node states below apply */
    bs_id current;       /* the step's node (drawn as BS_VSTEP_CURRENT too), BS_NONE */
    bs_id selected;      /* node to mark as selected (e.g. after :show), BS_NONE */
    int32_t nstep;       /* entries in step[] */
    uint8_t *step;       /* bs_vstep per tape index; indexes >= nstep are BS_VSTEP_NONE */
    int nlabels, caplabels;
    bs_view_edge_label *labels; /* edges that carry this step's VJPs */
    char caption[192];   /* one line about the step ("step 3/16  z3 = ...   upstream ..."), shown
                            above the graph by the window and exports; "" for none */
} bs_view_state;

void bs_view_state_init(bs_view_state *s);          /* empty: not stepping, nothing selected */
void bs_view_state_clear(bs_view_state *s);         /* free the arrays and init again */
/* set one node's state (grows step[]); BS_ERR_NOMEM or BS_ERR_ARG (negative id) */
bs_status bs_view_state_set_step(bs_view_state *s, bs_id node, bs_vstep st);
/* label the edge to->in[slot] -> to (text is truncated to 63 bytes); replaces an older label */
bs_status bs_view_state_label_edge(bs_view_state *s, bs_id to, int slot, const char *text);
void bs_view_state_clear_labels(bs_view_state *s);
/* The stepper's three moves, so that a step record becomes a picture in one place:
 * begin: stepping on, every node the pass from root will visit (root's dependencies that require
 *   grad) pending, no current node, no labels; BS_ERR_ARG for a bad root.
 * step: a record from bs_backward_next(): the previous current node is done, the record's node
 *   current, and each edge into it labelled with the VJP its input received ("VJP -1.589").
 * finish: every pending or current node done, no current node, no labels. */
bs_status bs_view_state_begin(bs_view_state *s, const bs_ctx *c, bs_id root);
bs_status bs_view_state_step(bs_view_state *s, const bs_step *step);
void bs_view_state_finish(bs_view_state *s);

/* ==== The view model ==== */
typedef enum {
    BS_VN_OP = 0,        /* a computed node */
    BS_VN_PARAM,         /* a leaf that requires grad */
    BS_VN_INPUT,         /* a leaf that does not: data, constructors, named constants, detached */
    BS_VN_CONST,         /* an unnamed scalar constant: drawn small, a number in an ellipse */
    BS_VN_GROUP          /* a collapsed group: a module or function call (every call of it), a
                            named statement's unnamed steps, or leaves; one box for many nodes */
} bs_vnode_kind;

enum { /* bs_view_node.flags */
    BS_VNF_GRAD = 1u << 0,      /* the grad is known (a backward pass reached it) */
    BS_VNF_REQ_GRAD = 1u << 1,  /* requires grad */
    BS_VNF_ROOT = 1u << 2,      /* the root the view was built for */
    BS_VNF_CURRENT = 1u << 3,   /* stepper: this step's node */
    BS_VNF_DONE = 1u << 4,      /* stepper: processed */
    BS_VNF_PENDING = 1u << 5,   /* stepper: not reached yet (greyed) */
    BS_VNF_SELECTED = 1u << 6,
    BS_VNF_DETACHED = 1u << 7,  /* a copy made by detach() (no grad flows into it) */
    BS_VNF_NO_GRAD = 1u << 8,   /* made under no_grad */
    BS_VNF_FREED = 1u << 9,     /* saved tensors freed by a backward without retain_graph */
    BS_VNF_REBOUND = 1u << 10,  /* its name was bound to a newer node later */
    BS_VNF_TENSOR = 1u << 11,   /* more than one element: has a heatmap */
    BS_VNF_PARTIAL = 1u << 12,  /* its grad is a pass's sum so far (bs_grad_now: more may come);
                                   the preview reads "so far ..." instead of "grad ..." */
    BS_VNF_REPEAT = 1u << 13    /* a source (leaf, constant, box of leaves) drawn again beside a
                                   use far from where it is drawn first: see bs_view.nrepeats */
};

enum { /* bs_view_edge.flags */
    BS_VEF_COPY = 1u << 0,      /* value copy (detach/param): dashed, no gradient flows */
    BS_VEF_STEP = 1u << 1,      /* carries this step's VJP: highlighted, labelled */
    BS_VEF_PENDING = 1u << 2,   /* stepping: the consumer was not reached yet */
    BS_VEF_NO_GRAD = 1u << 3    /* the input does not require grad: no gradient flows */
};

#define BS_HEAT_MAX 16          /* heatmaps are sampled down to at most 16 x 16 cells */
typedef struct {
    int rows, cols;             /* grid, 1..BS_HEAT_MAX each */
    float absmax;               /* max |v| over the whole tensor (colour scale) */
    float v[BS_HEAT_MAX * BS_HEAT_MAX]; /* (rows, cols) sampled values, row-major */
} bs_heat;

typedef struct {
    bs_id id;                   /* tape index: the stable node id ("n<id>" in exports) */
    bs_vnode_kind kind;
    unsigned flags;             /* BS_VNF_* */
    const char *name;           /* "z1", "z1'" when rebound, "" when unnamed */
    const char *op;             /* op symbol ("+", "sigmoid"), "" for leaves */
    const char *title;          /* first line: "z1 = +", "w11", "sigmoid", "2" */
    const char *text;           /* the source text that made it ("w11 * x1"), "" if unknown: how
                                   an unnamed node is called in captions */
    const char *shape;          /* "(2, 3)", "" for scalars */
    const char *value;          /* value preview: "0.75", "[0.1, 0.2, …]" */
    const char *grad;           /* grad preview "grad 0.6" ("so far 0.6" while a pass is still
                                   adding to it); "" when unknown or not requested */
    const char *tag;            /* state words: "param", "freed", "detached", "no_grad" ... */
    const char *detail;         /* multi-line details for a panel (BS_VIEW_DETAILS), else "" */
    bs_rgb fill, border, ink;   /* from the theme, after state */
    float width, height;        /* layout size in points, from structural text only */
    double gmag;                /* mean |grad|, NaN when unknown */
    bs_heat *heat;              /* value heatmap (BS_VIEW_HEATMAPS, tensors only), else NULL */
    bs_heat *gheat;             /* grad heatmap (BS_VIEW_HEATMAPS, tensor grads), else NULL */
    /* groups (bs_view_opts.collapse): for BS_VN_GROUP, id is its last member's */
    const char *group;          /* BS_VN_GROUP: the name :graph --expand takes ("forward()",
                                   "fc1 (Linear)", "data_loss"); "" for a plain node */
    int members;                /* BS_VN_GROUP: tape nodes it stands for; 1 for a plain node */
    int cluster;                /* the open group (v->clusters) it is drawn inside, -1 none */
    int repeats;                /* BS_VNF_REPEAT: the index in nodes[] of the node it repeats;
                                   else -1 */
} bs_view_node;

typedef struct {
    const char *name;           /* what :graph --collapse NAME takes */
    const char *title;          /* drawn on the box: "forward() × 100" */
    int parent;                 /* the cluster this one sits in, -1 */
} bs_view_cluster;

typedef struct {
    int from, to;               /* indexes into nodes[]: from is input `slot` of to */
    int slot;                   /* -1 for a copy edge */
    unsigned flags;             /* BS_VEF_* */
    double gmag;                /* mean |grad| of the input it feeds (what flows back), NaN */
    bs_rgb color;
    float width;                /* pen width, points */
    const char *label;          /* the stepper's label, "" when none */
} bs_view_edge;

typedef struct {
    bs_id root;                 /* BS_NONE: the whole tape */
    int32_t tape_len;           /* tape length when built */
    int nnodes, nedges;
    bs_view_node *nodes;        /* in tape order (ids ascending), then the nrepeats repeats */
    int nrepeats;               /* A source used far from where it is drawn (one input feeding
                                   every statement of a script) would thread a long edge through
                                   every rank between, which makes the layout unreadable and, past
                                   a few hundred ranks, too slow to make. Each such use gets its
                                   own copy of the source instead: the last nrepeats nodes, with
                                   the same id, text and state as the node they repeat. */
    bs_view_edge *edges;        /* ordered by (to, slot) */
    uint64_t structure;         /* hash of everything the layout depends on: equal hashes -> the
                                   same layout, so only values or highlights changed */
    bool stepping;
    bs_id selected;
    const char *caption;        /* the state's caption, "" for none */
    int nclusters;              /* open groups drawn as boxes around their members */
    bs_view_cluster *clusters;
    int32_t hidden;             /* tape nodes inside collapsed groups (not drawn one by one) */
    bool freed;                 /* some node's saved tensors were freed by backward() */
    struct bs_view_mem *mem;    /* strings and heatmaps (private) */
} bs_view;

enum { /* bs_view_build flags */
    BS_VIEW_GRADS = 1u << 0,    /* grad previews and gradient-coloured edges */
    BS_VIEW_HEATMAPS = 1u << 1, /* sample tensors into heatmaps */
    BS_VIEW_DETAILS = 1u << 2,  /* fill detail text (window panel) */
    BS_VIEW_ALL = 7u
};

/* Build the view of the nodes `root` depends on (root BS_NONE: the whole tape), under the
 * stepping state st (NULL: none). Returns NULL and a message on a bad root or out of memory.
 * Every node is drawn (no groups): bs_view_build_opts with BS_COLLAPSE_NONE. */
bs_view *bs_view_build(const bs_ctx *c, bs_id root, const bs_view_state *st, unsigned flags,
                       char *err, size_t len);

/* Groups. Each tape node belongs to one group:
 *   - a module or function call (core scopes: "fc1 (Linear)", "neuron()"); every call of the same
 *     module or function at the same level is one group ("neuron() × 33"); opening it shows its
 *     members in a box, with the calls they make as groups again;
 *   - the unnamed steps of a named statement at top level (z1 = w*x + b: the * joins z1), and a
 *     named leaf with the chain that built it (W = param(randn(3, 4) * 0.1): randn, * join W);
 *   - unnamed leaves (list elements) with the group that uses them first ("params of forward()");
 *     unnamed constants with the node that uses them; a param named model.fc1.weight with the
 *     call of model.fc1.
 * A collapsed group is one BS_VN_GROUP node (its inputs, outputs and param count in its text);
 * edges between groups are drawn once. An open group of more than one node is a cluster. */
typedef enum {
    BS_COLLAPSE_AUTO = 0, /* collapse everything when more than BS_VIEW_AUTO_NODES would show;
                             else open, except leaves' constructor chains */
    BS_COLLAPSE_NONE,     /* every node, no groups (bs_view_build) */
    BS_COLLAPSE_ALL       /* every group collapsed unless named in expand */
} bs_collapse;
#define BS_VIEW_AUTO_NODES 150

typedef struct {
    bs_id root;                 /* BS_NONE: the whole tape */
    bool down;                  /* root and what depends on it, instead of what it depends on */
    bs_collapse collapse;
    const char *const *expand;  /* group names kept open (nexpand of them) */
    int nexpand;
    const char *const *fold;    /* group names kept closed even in AUTO's small case */
    int nfold;
} bs_view_opts;
void bs_view_opts_init(bs_view_opts *o);  /* whole tape, AUTO, nothing expanded */
bs_view *bs_view_build_opts(const bs_ctx *c, const bs_view_opts *o, const bs_view_state *st,
                            unsigned flags, char *err, size_t len);
/* is `name` a group (collapsed or open) in this view? */
bool bs_view_has_group(const bs_view *v, const char *name);
void bs_view_free(bs_view *v);
/* index of node id in v->nodes (the node itself, never a repeat), -1 if absent */
int bs_view_find(const bs_view *v, bs_id id);

/* ==== Layout (Graphviz dot, left to right) ==== */
typedef struct {
    float x, y, w, h;           /* centre and size, points, y growing downwards */
} bs_layout_node;

typedef struct {
    int npts;                   /* cubic Bézier: 1 + 3k points */
    float *pts;                 /* (npts, 2) x, y pairs */
    bool arrow;                 /* an arrowhead from the last point to (ax, ay) */
    float ax, ay;
    float lx, ly;               /* label anchor (40% along the curve from the tail) */
} bs_layout_edge;

typedef struct {
    float width, height;        /* bounding box, points */
    int nnodes, nedges;         /* the view's counts, same order */
    bs_layout_node *nodes;
    bs_layout_edge *edges;
    int nclusters;              /* the view's clusters: boxes, same order */
    bs_layout_node *clusters;
    bool tb;                    /* laid out top to bottom (else left to right) */
    bool labels;                /* edges that can carry a VJP have room for a label (lx, ly is
                                   where Graphviz put it, off every node) */
    uint64_t structure;         /* the view's structure hash it was made for */
} bs_layout;

/* Lay the view out with dot (rankdir=LR), nodes at the sizes the view gives them (reserved room
 * for values and grads), edges without labels. Needs Graphviz. */
bs_layout *bs_viz_layout(const bs_view *v, char *err, size_t len);
/* The same with a direction: aspect is the drawing area's width / height (0: left to right);
 * the direction (LR or TB) whose estimated box matches it better is used. labels: give every
 * edge into a node that requires grad room for a stepper label, placed by Graphviz. */
bs_layout *bs_viz_layout_ex(const bs_view *v, double aspect, bool labels, char *err, size_t len);
/* true when top-to-bottom suits a drawing area of this aspect (width / height) better */
bool bs_viz_prefer_tb(const bs_view *v, double aspect);
void bs_layout_free(bs_layout *l);

/* ==== Export ==== */
/* Write the graph of root (BS_NONE: the whole tape) to path; the format comes from the extension:
 * .dot .gv (DOT source, not laid out), .svg, .png, .pdf. grads: grad previews and gradient edge
 * colours. st: a stepping state to show (NULL: none). The same session exports byte-identical
 * files (node ids are tape indexes; the PDF creation date is fixed). Needs Graphviz.
 * BS_ERR_ARG: unknown extension; BS_ERR_VALUE: cannot write the file. */
bs_status bs_viz_export(const bs_ctx *c, const char *path, bs_id root, bool grads,
                        const bs_view_state *st, char *err, size_t len);
/* Write a view where layout l put its nodes (l from bs_viz_layout() of a view of the same
 * structure, l->structure == v->structure): every node at l's centre and size, every edge along
 * l's route, the view's caption in a box of fixed size above the graph. A series of frames
 * exported with one layout (the stepper's --steps) keeps every node in place. .dot files carry
 * the positions as pos attributes (render them with neato -n2). BS_ERR_ARG: l does not fit v. */
bs_status bs_viz_export_at(const bs_view *v, const bs_layout *l, const char *path, char *err,
                           size_t len);
/* How an export looks: a legend of what the colours mean (under the graph, with the caption above
 * it when stepping), and its background. bs_viz_export uses {true, BS_BG_THEME}. */
typedef enum { BS_BG_THEME = 0, BS_BG_WHITE, BS_BG_TRANSPARENT } bs_export_bg;
typedef struct {
    bool legend;
    bs_export_bg background;
} bs_export_style;
/* bs_viz_export with groups and focus (bs_view_opts) and a style */
bs_status bs_viz_export_ex(const bs_ctx *c, const char *path, const bs_view_opts *o, bool grads,
                           const bs_view_state *st, bs_export_style style, char *err, size_t len);
/* nodes plus the ranks long edges skip: what BS_VIZ_MAX_COST bounds */
long bs_viz_layout_cost(const bs_view *v);
bs_status bs_viz_export_view(const bs_view *v, const char *path, char *err, size_t len);
/* The DOT source of a view (malloc'd, caller frees); NULL and a message on error. */
char *bs_viz_dot(const bs_view *v, char *err, size_t len);
/* Is Graphviz built in? false with the reason in why. */
bool bs_viz_have_graphviz(char *why, size_t len);

/* ==== Terminal drawing ==== */
enum { /* bs_viz_ascii flags */
    BS_ASCII_PLAIN = 1u << 0,   /* only 7-bit ASCII (+ - | >), no box-drawing characters */
    BS_ASCII_GRADS = 1u << 1    /* show grad previews */
};
/* Draw the graph of root (BS_NONE: whole tape) as text, leaves on the left, root on the right,
 * one line per node: [op]  {param}  (leaf), title then value and grad; edges are box-drawing
 * lines, ▼ ▲ where an edge joins a line already going into the same node; a legend and the
 * stepper's edge labels follow. At most `width` columns if it can (0: no limit): grads are
 * dropped first, then values; nodes are never cut. Returns malloc'd text ending in a newline;
 * NULL and a message on error. Works in every build. */
char *bs_viz_ascii(const bs_ctx *c, bs_id root, const bs_view_state *st, unsigned flags,
                   int width, char *err, size_t len);
char *bs_viz_ascii_view(const bs_view *v, unsigned flags, int width);
/* The drawing of a view with groups (bs_view_opts) that fits `width` columns: too wide (or too
 * large), every group is collapsed; still too wide, lines are cut at width (ending in '…', or '>'
 * with BS_ASCII_PLAIN) with a note saying so. Never wider than width (0: no limit). */
char *bs_viz_ascii_opts(const bs_ctx *c, const bs_view_opts *o, const bs_view_state *st,
                        unsigned flags, int width, char *err, size_t len);

/* ==== The live window (SDL2 + SDL2_ttf) ==== */
typedef struct bs_window bs_window;

typedef enum {
    BS_WEV_NONE = 0,
    BS_WEV_NEXT,      /* n, Space or Enter: the stepper should advance one node */
    BS_WEV_BACK,      /* b: step back */
    BS_WEV_FINISH,    /* f: run to the end */
    BS_WEV_CLICK,     /* a node was clicked: node holds its id (the window already shows it) */
    BS_WEV_EXPAND,    /* a collapsed group was clicked: group holds its name (open it) */
    BS_WEV_COLLAPSE,  /* an open group's title was clicked: group holds its name (close it) */
    BS_WEV_CLOSE      /* the user closed the window: call bs_window_close() */
} bs_window_event_kind;

typedef struct {
    bs_window_event_kind kind;
    bs_id node;       /* BS_WEV_CLICK: the node; else BS_NONE */
    char group[96];   /* BS_WEV_EXPAND, BS_WEV_COLLAPSE: the group's name; else "" */
} bs_window_event;

/* Open the window (1280x800, resizable), showing an empty graph. NULL with the reason in err
 * when there is no display (no DISPLAY / WAYLAND_DISPLAY and no SDL_VIDEODRIVER), SDL cannot
 * start, or this build has no SDL2. Fonts: DejaVu Sans when installed (BACKSTEP_FONT=path.ttf overrides), else any
 * DejaVu face found, else text is not drawn. */
bs_window *bs_window_open(char *err, size_t len);
void bs_window_close(bs_window *w);
/* Show root's graph (BS_NONE: whole tape) in state st (NULL: none). Relayouts only when the
 * structure changed (nodes, edges, names, shapes); values, grads and highlights only redraw.
 * A few nodes appended to the graph shown (a statement's) are placed at once without Graphviz:
 * the old nodes where they were, the new ones in ranks beyond them, no box over another; the
 * next bs_window_pump() with nothing else to draw (or a screenshot) lays the graph out with
 * Graphviz and draws that, the same picture a full layout gives.
 * The window copies what it needs: c and st are not used after the call. The drawing happens in
 * the next bs_window_pump() (or bs_window_redraw()). */
bs_status bs_window_update(bs_window *w, const bs_ctx *c, bs_id root, const bs_view_state *st,
                           char *err, size_t len);
/* The same with groups, focus and direction of bs_view_opts (bs_window_update: every node,
 * BS_COLLAPSE_NONE). The layout direction follows the window's shape (LR or TB, chosen again when
 * the window is resized); while stepping, edges get room for their VJP labels from Graphviz. */
bs_status bs_window_update_opts(bs_window *w, const bs_ctx *c, const bs_view_opts *o,
                                const bs_view_state *st, char *err, size_t len);
/* Handle pending window events without blocking longer than timeout_ms (0: never block) and
 * redraw if anything changed. Returns 1 with *ev filled when there is an event for the caller
 * (call again: more may be queued), 0 when there is none. Pan, zoom, fit and selection are handled
 * inside. SDL has no file descriptor to select() on, so the REPL's poll loop shares time this way:
 *
 *     rl_callback_handler_install(prompt, on_line);
 *     for (;;) {
 *         wait for stdin with select()/poll(), timeout 15 ms while a window is open
 *         if stdin is readable: rl_callback_read_char();   (may eval a statement, then
 *                                                            bs_window_update())
 *         while (bs_window_pump(win, 0, &ev)) handle ev;   (NEXT/BACK/FINISH step, CLICK
 *                                                            prints the node, CLOSE closes)
 *     }
 *
 * A pump without changes costs microseconds; a redraw of 200 nodes about half a frame; the pump
 * that replaces a quick placement with Graphviz's layout a layout more. */
int bs_window_pump(bs_window *w, int timeout_ms, bs_window_event *ev);
/* Draw now (what pump does when something changed), including presenting the frame. */
void bs_window_redraw(bs_window *w);
/* Select a node as if clicked (BS_NONE clears); no event is reported. */
void bs_window_select(bs_window *w, bs_id node);
void bs_window_fit(bs_window *w);   /* zoom and pan so the whole graph is visible */
/* Save what the window shows now as PNG (drawn fresh first). */
bs_status bs_window_screenshot(bs_window *w, const char *png, char *err, size_t len);
/* Show a curve (loss per step) in a plot panel; n == 0 hides the panel. y is copied. */
bs_status bs_window_plot(bs_window *w, const double *y, int n, const char *title, char *err,
                         size_t len);
/* Number of Graphviz layouts computed since open (tests check that value changes do not
 * relayout); a quick placement of appended nodes is not one, the layout replacing it is. */
int bs_window_layout_count(const bs_window *w);
/* SDL's name of the renderer in use ("opengl", "software"), for benchmarks; "" without one. */
const char *bs_window_renderer(const bs_window *w);
/* Is SDL2 built in? false with the reason in why. */
bool bs_window_available(char *why, size_t len);

/* ==== PNG ==== */
/* Write an 8-bit RGB image ((h, w, 3) bytes, row stride `stride` bytes) as PNG (zlib deflate).
 * Used by screenshots; public for tests and tools. */
bs_status bs_png_write(const char *path, const uint8_t *rgb, int w, int h, int stride, char *err,
                       size_t len);

#endif
