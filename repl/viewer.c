/* repl/viewer.c: the live window and the graph commands (:graph, :export, :theme, :screenshot):
 * the window follows the session (redrawn after each statement, held while a script runs) and
 * shows the stepper's state; one of the tools above the interpreter (cmdtab.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl_int.h"

struct bs_viz_state {
    bs_window *w;
    bool tried, noted;
    bs_id root;           /* what :graph NAME asked to show (BS_NONE: whole tape) */
    bool follow;          /* root follows the last assigned name */
    char last_err[256];   /* the window's last complaint, said once until it changes */
    bool down;            /* :graph NAME --down: what depends on root */
    bs_collapse collapse; /* AUTO, NONE (--all), ALL (--collapse) */
    char expand[32][96];  /* groups opened by name or click */
    int nexpand;
    char fold[32][96];    /* groups closed by name or click */
    int nfold;
    int hold;             /* > 0: a script or :load runs; refreshes wait for the last release */
    bool stale;           /* a refresh was asked for while held */
};

static void bs_viz_refresh(bs_session *s); /* redraw the window after a statement */
static void bs_viz_free(bs_session *s);
/* the node ids the window state holds (for bs_tape_collect): fills up to max, returns count */
static int bs_viz_ids(bs_session *s, bs_id **out, int max);

/* ==== The window and graph commands ==== */

static bs_viz_state *viz(bs_session *s)
{
    if (!s->viz) {
        s->viz = calloc(1, sizeof *s->viz);
        if (s->viz) {
            s->viz->root = BS_NONE;
            s->viz->follow = true;
        }
    }
    return s->viz;
}

static bool window_open(bs_session *s, bool loud)
{
    bs_viz_state *v = viz(s);
    if (!v) return false;
    if (v->w) return true;
    char err[256];
    v->w = bs_window_open(err, sizeof err);
    v->tried = true;
    if (!v->w) {
        if (loud || !v->noted)
            fprintf(s->err, "note: no window (%s); :graph --ascii draws the graph here\n", err);
        v->noted = true;
        return false;
    }
    return true;
}

static int bs_viz_ids(bs_session *s, bs_id **out, int max)
{
    if (!s->viz || max < 1) return 0;
    out[0] = &s->viz->root;
    return 1;
}

static void list_remove(char (*l)[96], int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(l[i], name)) {
            memmove(l[i], l[i + 1], (size_t)(*n - i - 1) * sizeof l[0]);
            (*n)--;
            i--;
        }
}

static void list_add(char (*l)[96], int *n, const char *name)
{
    list_remove(l, n, name);
    if (*n == 32) { /* the oldest goes */
        memmove(l[0], l[1], 31 * sizeof l[0]);
        (*n)--;
    }
    snprintf(l[(*n)++], 96, "%s", name);
}

/* the view options the window and the terminal drawing use now */
static void view_opts(bs_viz_state *v, bs_view_opts *o, const char **ex, const char **fo)
{
    bs_view_opts_init(o);
    o->root = v->root;
    o->down = v->down && v->root != BS_NONE;
    o->collapse = v->collapse;
    for (int i = 0; i < v->nexpand; i++) ex[i] = v->expand[i];
    for (int i = 0; i < v->nfold; i++) fo[i] = v->fold[i];
    o->expand = ex;
    o->nexpand = v->nexpand;
    o->fold = fo;
    o->nfold = v->nfold;
}

void bs_session_window_hold(bs_session *s)
{
    bs_viz_state *v = viz(s);
    if (v) v->hold++;
}

void bs_session_window_release(bs_session *s)
{
    bs_viz_state *v = s->viz;
    if (!v || v->hold <= 0) return;
    if (--v->hold == 0 && v->stale) {
        v->stale = false;
        bs_viz_refresh(s);
    }
}

void bs_session_window_unhold(bs_session *s)
{
    if (s->viz && s->viz->hold > 0) s->viz->hold--;
}

static void refresh_now(bs_session *s)
{
    bs_viz_state *v = s->viz;
    if (v) v->stale = false;
    if (s->o.window && !s->o.quiet && (!v || (!v->w && !v->tried))) {
        v = viz(s);
        if (v && !v->tried) window_open(s, false);
    }
    if (!v || !v->w) return;
    char err[256];
    bs_id root = v->root;
    if (root >= bs_tape_len(s->ctx)) root = v->root = BS_NONE;
    bs_view_opts o;
    const char *ex[32], *fo[32];
    view_opts(v, &o, ex, fo);
    if (bs_window_update_opts(v->w, s->ctx, &o, bs_stepper_view(s), err, sizeof err)) {
        /* a graph too large to lay out stays too large for every statement after it: say so
           once, not after each one */
        if (strcmp(err, v->last_err)) fprintf(s->err, "window: %s\n", err);
        snprintf(v->last_err, sizeof v->last_err, "%s", err);
    } else {
        v->last_err[0] = 0;
    }
}

static void bs_viz_refresh(bs_session *s)
{
    bs_viz_state *v = s->viz;
    if (v && v->hold > 0) { /* one relayout when the script or :load is done, not per statement */
        v->stale = true;
        return;
    }
    if (s->quit) return; /* :quit: nothing new to draw */
    refresh_now(s);
}

static void bs_viz_free(bs_session *s)
{
    if (!s->viz) return;
    if (s->viz->w) bs_window_close(s->viz->w);
    free(s->viz);
    s->viz = NULL;
}

void bs_session_idle(bs_session *s)
{
    /* the window opens at start when a display exists (once: a failure is noted, not retried) */
    if (!s->viz && s->o.window && !s->o.quiet) bs_viz_refresh(s);
    if (!s->viz || !s->viz->w) return;
    bs_window_event ev;
    while (bs_window_pump(s->viz->w, 0, &ev) > 0) {
        switch (ev.kind) {
        case BS_WEV_CLOSE:
            bs_window_close(s->viz->w);
            s->viz->w = NULL;
            return;
        case BS_WEV_EXPAND:
        case BS_WEV_COLLAPSE:
            if (ev.kind == BS_WEV_EXPAND) {
                list_remove(s->viz->fold, &s->viz->nfold, ev.group);
                list_add(s->viz->expand, &s->viz->nexpand, ev.group);
            } else {
                list_remove(s->viz->expand, &s->viz->nexpand, ev.group);
                list_add(s->viz->fold, &s->viz->nfold, ev.group);
            }
            if (s->viz->collapse == BS_COLLAPSE_NONE) s->viz->collapse = BS_COLLAPSE_AUTO;
            refresh_now(s);
            break;
        case BS_WEV_CLICK:
            fputc('\n', s->out);
            bs_show_node(s, s->out, ev.node);
            fflush(s->out);
            break;
        case BS_WEV_NEXT:
        case BS_WEV_BACK:
        case BS_WEV_FINISH:
            bs_stepper_key(s, ev.kind);
            bs_viz_refresh(s);
            fflush(s->out);
            break;
        default: break;
        }
    }
}

/* columns of the terminal the REPL writes to: its size, else $COLUMNS, else 100 */
static int term_columns(bs_session *s)
{
    struct winsize ws;
    if (isatty(fileno(s->out)) && ioctl(fileno(s->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    const char *e = getenv("COLUMNS");
    int n = e ? atoi(e) : 0;
    return n >= 20 ? n : 100;
}

#define GRAPH_USAGE ":graph [NAME [--down]] [--collapse [GROUP]] [--expand GROUP] [--all] [--ascii [--width N] [--plain]]"

static int cmd_graph(bs_session *s, const bs_stmt *st)
{
    bs_viz_state *v = viz(s);
    if (!v) return bs_fail(s, st->line, st->col, "out of memory");
    const bs_word *name = NULL, *expand = NULL, *fold = NULL;
    bool ascii = false, plain = false, down = false, collapse = false, all = false;
    int width = 0;
    for (int i = 0; i < st->cmd.argc; i++) {
        const bs_word *a = &st->cmd.argv[i];
        const bs_word *next = i + 1 < st->cmd.argc && strncmp(st->cmd.argv[i + 1].text, "--", 2) ? &st->cmd.argv[i + 1] : NULL;
        if (!strcmp(a->text, "--ascii")) ascii = true;
        else if (!strcmp(a->text, "--plain")) plain = true;
        else if (!strcmp(a->text, "--down")) down = true;
        else if (!strcmp(a->text, "--all")) all = true;
        else if (!strcmp(a->text, "--collapse")) {
            collapse = true;
            if (next) fold = next, i++;
        } else if (!strcmp(a->text, "--expand")) {
            if (!next) return bs_fail(s, a->line, a->col, "--expand needs a group's name (the title of a box: :graph --expand 'fc1 (Linear)')");
            expand = next;
            i++;
        } else if (!strcmp(a->text, "--width")) {
            char *end;
            long n = next ? strtol(next->text, &end, 10) : 0;
            if (!next || *end || n < 20 || n > 100000)
                return bs_fail(s, next ? next->line : a->line, next ? next->col : a->col, "--width needs a number of columns, 20 or more");
            width = (int)n;
            i++;
        } else if (!strncmp(a->text, "--", 2))
            return bs_fail(s, a->line, a->col, "unknown option %s (%s)", a->text, GRAPH_USAGE);
        else if (name)
            return bs_fail(s, a->line, a->col, ":graph draws one name's graph (usage: %s)", GRAPH_USAGE);
        else
            name = a;
    }
    bs_id root = BS_NONE;
    if (name && bs_lookup_node(s, name->text, name->line, name->col, &root)) return -1;
    if (down && !name) return bs_fail(s, st->line, st->col, "--down needs a name: :graph NAME --down draws what depends on NAME");
    if (expand) { /* it must be a group of the graph as drawn now */
        bs_view_opts o;
        const char *ex[32], *fo[32];
        bs_id keep = v->root;
        bool keep_down = v->down;
        v->root = root;
        v->down = down;
        view_opts(v, &o, ex, fo);
        v->root = keep;
        v->down = keep_down;
        if (o.collapse == BS_COLLAPSE_NONE) o.collapse = BS_COLLAPSE_AUTO;
        char err[256];
        bs_view *vw = bs_view_build_opts(s->ctx, &o, NULL, 0, err, sizeof err);
        if (!vw) return bs_fail(s, st->line, st->col, "%s", err);
        bool found = bs_view_has_group(vw, expand->text);
        if (!found) {
            char list[512] = "";
            size_t u = 0;
            int shown = 0;
            for (int k = 0; k < vw->nnodes && shown < 8; k++)
                if (vw->nodes[k].kind == BS_VN_GROUP && u + strlen(vw->nodes[k].group) + 8 < sizeof list) {
                    u += (size_t)snprintf(list + u, sizeof list - u, "%s'%s'", shown ? ", " : "", vw->nodes[k].group);
                    shown++;
                }
            bs_view_free(vw);
            return bs_fail(s, expand->line, expand->col, "no collapsed group '%s' in this graph%s%s", expand->text,
                           shown ? " (groups: " : " (it has none: every node is drawn)", shown ? list : "");
        }
        bs_view_free(vw);
    }
    /* the state changes only once the command is known to be good */
    if (all) {
        v->collapse = BS_COLLAPSE_NONE;
        v->nexpand = v->nfold = 0;
    }
    if (collapse && !fold) {
        v->collapse = BS_COLLAPSE_ALL;
        v->nexpand = v->nfold = 0;
    }
    if (fold) {
        list_remove(v->expand, &v->nexpand, fold->text);
        list_add(v->fold, &v->nfold, fold->text);
        if (v->collapse == BS_COLLAPSE_NONE) v->collapse = BS_COLLAPSE_AUTO;
    }
    if (expand) {
        list_remove(v->fold, &v->nfold, expand->text);
        list_add(v->expand, &v->nexpand, expand->text);
        if (v->collapse == BS_COLLAPSE_NONE) v->collapse = BS_COLLAPSE_AUTO;
    }
    if (name || !(expand || fold || collapse || all)) { /* a plain :graph draws the whole tape */
        v->root = root;
        v->down = down;
    }
    bool to_term = ascii || !window_open(s, true);
    if (to_term) {
        /* no window: draw in the terminal instead */
        char err[256];
        unsigned fl = BS_ASCII_GRADS | (plain ? BS_ASCII_PLAIN : 0);
        bs_view_opts o;
        const char *ex[32], *fo[32];
        view_opts(v, &o, ex, fo);
        char *t = bs_viz_ascii_opts(s->ctx, &o, bs_stepper_view(s), fl, width ? width : term_columns(s), err, sizeof err);
        if (!t) return ascii ? bs_fail(s, st->line, st->col, "%s", err) : 0;
        fputs(t, s->out);
        free(t);
        return 0;
    }
    refresh_now(s);
    bs_window_fit(s->viz->w);
    return 0;
}

static int cmd_export(bs_session *s, const bs_stmt *st)
{
    const bs_word *file = bs_cmd_positional(st, 0), *name = bs_cmd_positional(st, 1);
    if (!file) return bs_cmd_usage(s, st, ":export FILE [name] [--grads]   or   :export DIR [name] --steps [--png|--pdf]   or   :export FILE.py [name] [--check]");
    bs_id root = BS_NONE;
    if (name && bs_lookup_node(s, name->text, name->line, name->col, &root)) return -1;
    size_t fl = strlen(file->text);
    if (fl > 3 && !strcmp(file->text + fl - 3, ".py")) {
        /* a PyTorch program: of the named root, else of the newest backward pass's, else the
           default of :step */
        for (int i = 0; i < st->cmd.argc; i++) {
            const char *a = st->cmd.argv[i].text;
            if (!strncmp(a, "--", 2) && strcmp(a, "--check"))
                return bs_fail(s, st->cmd.argv[i].line, st->cmd.argv[i].col,
                               "unknown option %s (:export FILE.py [name] [--check])", a);
        }
        if (root == BS_NONE && s->npass > 0) root = s->pass_root[s->npass - 1];
        if (root == BS_NONE && bs_cmd_node(s, st, NULL, &root)) return -1;
        return bs_export_py(s, file->text, root, bs_cmd_flag(st, "--check"), file->line, file->col);
    }
    for (int i = 0; i < st->cmd.argc; i++) {
        const char *a = st->cmd.argv[i].text;
        if (!strncmp(a, "--", 2) && strcmp(a, "--grads") && strcmp(a, "--steps") &&
            strcmp(a, "--png") && strcmp(a, "--pdf") && strcmp(a, "--svg") && strcmp(a, "--white") &&
            strcmp(a, "--transparent") && strcmp(a, "--no-legend") && strcmp(a, "--collapse"))
            return bs_fail(s, st->cmd.argv[i].line, st->cmd.argv[i].col, "unknown option %s", a);
    }
    if (bs_cmd_flag(st, "--steps")) {
        const char *ext = bs_cmd_flag(st, "--png") ? "png" : bs_cmd_flag(st, "--pdf") ? "pdf" : "svg";
        if (root == BS_NONE && bs_cmd_node(s, st, NULL, &root)) return -1;
        return bs_stepper_export_frames(s, st, file->text, root, ext);
    }
    char err[256];
    /* every node, unless --collapse: the groups as the window draws them */
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = root;
    o.collapse = bs_cmd_flag(st, "--collapse") ? BS_COLLAPSE_ALL : BS_COLLAPSE_NONE;
    bs_export_style style = {!bs_cmd_flag(st, "--no-legend"),
                             bs_cmd_flag(st, "--transparent") ? BS_BG_TRANSPARENT
                             : bs_cmd_flag(st, "--white") ? BS_BG_WHITE : BS_BG_THEME};
    bs_status r = bs_viz_export_ex(s->ctx, file->text, &o, bs_cmd_flag(st, "--grads"),
                                   bs_stepper_view(s), style, err, sizeof err);
    if (r) return bs_fail(s, file->line, file->col, "%s", err);
    if (!s->o.quiet) fprintf(s->out, "wrote %s\n", file->text);
    return 0;
}

static int cmd_screenshot(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w) return bs_cmd_usage(s, st, ":screenshot FILE.png");
    if (!window_open(s, true)) return bs_fail(s, st->line, st->col, "there is no window to capture");
    refresh_now(s);
    char err[256];
    if (bs_window_screenshot(s->viz->w, w->text, err, sizeof err))
        return bs_fail(s, w->line, w->col, "%s", err);
    if (!s->o.quiet) fprintf(s->out, "wrote %s\n", w->text);
    return 0;
}

static int cmd_theme(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w && !bs_cmd_positional(st, 1)) { /* which one, and what else there is */
        fprintf(s->out, "theme %s (others: :theme default, :theme projector, :theme FILE.conf)\n",
                bs_theme_name());
        return 0;
    }
    if (!w || bs_cmd_positional(st, 1)) return bs_cmd_usage(s, st, ":theme default|projector|FILE.conf");
    char err[512];
    if (bs_theme_use(w->text, err, sizeof err)) return bs_fail(s, w->line, w->col, "%s", err);
    if (s->viz && s->viz->w) refresh_now(s); /* new sizes: the window lays the graph out again */
    if (!s->o.quiet) fprintf(s->out, "theme %s\n", w->text);
    return 0;
}

bs_window *bs_session_window(bs_session *s) { return s->viz ? s->viz->w : NULL; }

/* ==== The set ==== */

static const bs_command viewer_cmds[] = {
    {"graph", cmd_graph, "graph [NAME [--down]] [--collapse [GROUP]] [--expand GROUP] [--all] [--ascii [--width N] [--plain]]", "open or refresh the live window (or draw in the terminal): NAME's graph (--down: what depends on NAME); big graphs show groups (module and function calls, statements) as boxes: --expand opens one, --collapse closes one or all, --all draws every node; --ascii fits the terminal's width"},
    {"export", cmd_export, "export FILE [name] [--grads] [--collapse] [--white|--transparent] [--no-legend]", "write the graph as .dot .svg .png .pdf, with a legend of its colours (--collapse: in groups, as the window draws a big graph); DIR --steps: one frame per step; FILE.py [--check]: a PyTorch program that trains it"},
    {"theme", cmd_theme, "theme default|projector|FILE.conf", "colours and type sizes of the window and exports: projector is bigger, on white"},
    {"screenshot", cmd_screenshot, "screenshot FILE.png", "save the window as it is now"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_viewer_commands = {
    .title = "The graph",
    .cmds = viewer_cmds,
    .after_statement = bs_viz_refresh,
    .session_free = bs_viz_free,
    .keep_ids = bs_viz_ids,
};
