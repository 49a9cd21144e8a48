/* repl/lesson_file.c: lessons on disk: the lessons/NN-NAME.lesson format parsed into screens and
 * items, finding a lesson by number or name in the lesson folders, and each learner's progress
 * (the XDG state directory). The runner is lesson.c. */
#include "lesson_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== The parsed lesson ==== */




static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* *dst = *dst + "\n" + add (or add when *dst is NULL) */
static bool str_append_line(char **dst, const char *add)
{
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(add);
    char *p = realloc(*dst, a + b + 2);
    if (!p)
        return false;
    if (a)
        p[a++] = '\n';
    memcpy(p + a, add, b + 1);
    *dst = p;
    return true;
}

void bs__lesson_free(lesson *L)
{
    if (!L)
        return;
    for (int i = 0; i < L->n; i++) {
        free(L->items[i].text);
        free(L->items[i].answer);
        free(L->items[i].hint);
        free(L->items[i].explain);
        free(L->items[i].fails);
    }
    free(L->items);
    free(L->screen);
    free(L->title);
    free(L);
}

static item *lesson_add(lesson *L, item_kind k, int line, const char *text)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 32;
        item *p = realloc(L->items, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        L->items = p;
        L->cap = cap;
    }
    item *it = &L->items[L->n++];
    memset(it, 0, sizeof *it);
    it->kind = k;
    it->line = line;
    it->text = str_dup(text ? text : "");
    return it->text ? it : NULL;
}

/* ==== Parsing ==== */

char *bs__lesson_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* "1e-4" or "2%" -> tol; false if not a number */
static bool parse_tol(const char *s, double *tol, bool *rel)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0))
        return false;
    *rel = false;
    if (*end == '%') {
        *rel = true;
        v /= 100.0;
        end++;
    }
    if (*end)
        return false;
    *tol = v;
    return true;
}

/* Split a trailing "tol X" off `s` (modified in place). false on a malformed tol. */
static bool split_tol(char *s, item *it)
{
    char *p = strstr(s, " tol ");
    char *last = NULL;
    while (p) {
        last = p;
        p = strstr(p + 1, " tol ");
    }
    if (!last)
        return true;
    if (!parse_tol(bs__lesson_trim(last + 5), &it->tol, &it->tol_rel))
        return false;
    it->has_tol = true;
    *last = '\0';
    return true;
}

/* A number as the narration writes it: [-]digits[.digits][e[-]digits] */
static bool parse_stated(const char *s, double *v)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && !errno;
}

/* Half a unit in the last stated digit: "0.4629" -> 5e-5, "1.5e3" -> 50; integers are exact. */
double bs__lesson_stated_tol(const char *numtext, double v)
{
    const char *dot = strchr(numtext, '.');
    const char *e = strpbrk(numtext, "eE");
    int decimals = 0;
    if (dot) {
        const char *q = dot + 1;
        while (isdigit((unsigned char)*q)) {
            decimals++;
            q++;
        }
    }
    int ex = e ? atoi(e + 1) : 0;
    if (!dot && !e)
        return 1e-9 * fmax(1.0, fabs(v));
    return 0.5 * pow(10.0, ex - decimals) * (1 + 1e-9);
}

static bool is_directive(const char *line, const char *word, const char **arg)
{
    size_t n = strlen(word);
    if (line[0] != '@' || strncmp(line + 1, word, n) != 0)
        return false;
    char c = line[1 + n];
    if (c != '\0' && c != ' ' && c != '\t')
        return false;
    *arg = line + 1 + n;
    while (**arg == ' ' || **arg == '\t')
        (*arg)++;
    return true;
}

static int perr(lesson *L, int line, const char *msg)
{
    snprintf(L->err, sizeof L->err, "%s:%d: %s", L->path, line, msg);
    return -1;
}

/* Continuation lines (after @predict, @hint, @explain) go to *cont until a blank line or a
 * directive. Narration goes to the open TEXT item `para` until a blank line. */
static int lesson_parse_lines(lesson *L, FILE *f, char **bufp, size_t *capp);

/* the line buffer is freed here, whichever way parsing ends */
static int lesson_parse(lesson *L, FILE *f)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = lesson_parse_lines(L, f, &buf, &cap);
    free(buf);
    return rc;
}

static int lesson_parse_lines(lesson *L, FILE *f, char **bufp, size_t *capp)
{
#define buf (*bufp)
#define cap (*capp)
    ssize_t len;
    int lineno = 0, rc = 0;
    char **cont = NULL;        /* continuation target */
    item *para = NULL;         /* open narration paragraph */
    item *pred = NULL;         /* the predict that @answer/@hint/@explain attach to */
    bool in_recap = false, body = false;

    while ((len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        char *line = buf;
        const char *arg;
        if (line[0] == '#')
            continue;                                   /* comment */
        char *t = bs__lesson_trim(line);
        if (!*t) {                                      /* blank: ends paragraphs */
            cont = NULL;
            para = NULL;
            continue;
        }
        if (strncmp(line, ">>>", 3) == 0 || strncmp(line, "...", 3) == 0) {
            bool more = line[0] == '.';
            const char *code = line + 3;
            if (*code == ' ')
                code++;
            cont = NULL;
            para = NULL;
            if (in_recap)
                return perr(L, lineno, "code after @recap: use @try for lines to try");
            if (more) {
                if (!L->n || L->items[L->n - 1].kind != IT_CODE)
                    return perr(L, lineno,
                                "'...' continues a '>>>' line, but none comes before it");
                if (!str_append_line(&L->items[L->n - 1].text, code))
                    return perr(L, lineno, "out of memory");
            } else if (!lesson_add(L, IT_CODE, lineno, code))
                return perr(L, lineno, "out of memory");
            pred = NULL;
            body = true;
            continue;
        }
        if (line[0] == '@') {
            cont = NULL;
            para = NULL;
            if (is_directive(line, "title", &arg)) {
                if (body)
                    return perr(L, lineno, "@title belongs at the top of the file");
                free(L->title);
                L->title = str_dup(arg);
                if (!*arg)
                    return perr(L, lineno, "@title needs a title");
                continue;
            }
            if (is_directive(line, "answer", &arg) || is_directive(line, "hint", &arg) ||
                is_directive(line, "explain", &arg)) {
                if (!pred)
                    return perr(L, lineno, "@answer, @hint and @explain follow an @predict");
                char **slot = line[1] == 'a' ? &pred->answer : line[1] == 'h' ? &pred->hint
                                                                                 : &pred->explain;
                if (*slot)
                    return perr(L, lineno, "this prediction already has that part");
                char *a = str_dup(arg);
                if (!a)
                    return perr(L, lineno, "out of memory");
                if (line[1] == 'a') {
                    if (!split_tol(a, pred)) {
                        free(a);
                        return perr(L, lineno, "tol takes a number, or a percentage like 2%");
                    }
                    char *tt = bs__lesson_trim(a);
                    memmove(a, tt, strlen(tt) + 1);
                    if (!*a) {
                        free(a);
                        return perr(L, lineno, "@answer needs an expression");
                    }
                    *slot = a;
                } else {
                    *slot = a;
                    cont = slot;
                }
                continue;
            }
            if (is_directive(line, "fails", &arg)) {
                item *prev = L->n ? &L->items[L->n - 1] : NULL;
                if (!prev || prev->kind != IT_CODE || prev->fails || pred)
                    return perr(L, lineno, "@fails follows the '>>>' line that must fail");
                if (!*arg)
                    return perr(L, lineno, "@fails needs words the error message must contain");
                prev->fails = str_dup(arg);
                if (!prev->fails)
                    return perr(L, lineno, "out of memory");
                continue;
            }
            pred = NULL;
            body = true;
            if (in_recap && !is_directive(line, "try", &arg))
                return perr(L, lineno, "after @recap only narration and @try lines may follow");
            if (is_directive(line, "pause", &arg)) {
                if (*arg)
                    return perr(L, lineno, "@pause takes nothing");
                if (!lesson_add(L, IT_PAUSE, lineno, NULL))
                    return perr(L, lineno, "out of memory");
            } else if (is_directive(line, "predict", &arg)) {
                if (!*arg)
                    return perr(L, lineno, "@predict needs a question");
                pred = lesson_add(L, IT_PREDICT, lineno, arg);
                if (!pred)
                    return perr(L, lineno, "out of memory");
                cont = &pred->text;
            } else if (is_directive(line, "check", &arg)) {
                char *a = str_dup(arg);
                item *it = a ? lesson_add(L, IT_CHECK, lineno, NULL) : NULL;
                if (!it) {
                    free(a);
                    return perr(L, lineno, "out of memory");
                }
                bool ok = split_tol(a, it);
                char *eq = NULL, *p = strstr(a, "==");
                while (p) {
                    eq = p;
                    p = strstr(p + 2, "==");
                }
                if (ok && eq) {
                    *eq = '\0';
                    char *num = bs__lesson_trim(eq + 2), *ex = bs__lesson_trim(a);
                    ok = *ex && strlen(num) < sizeof it->numtext && parse_stated(num, &it->num);
                    if (ok) {
                        snprintf(it->numtext, sizeof it->numtext, "%s", num);
                        free(it->text);
                        it->text = str_dup(ex);
                    }
                }
                free(a);
                if (!ok || !eq)
                    return perr(L, lineno, "@check reads: @check EXPR == NUMBER [tol X]");
                if (!it->text)
                    return perr(L, lineno, "out of memory");
            } else if (is_directive(line, "graph", &arg)) {
                if (!lesson_add(L, IT_GRAPH, lineno, arg))
                    return perr(L, lineno, "out of memory");
            } else if (is_directive(line, "window", &arg)) {
                if (arg[0] != ':')
                    return perr(L, lineno, "@window takes a REPL command, like @window :graph L");
                if (!lesson_add(L, IT_WINDOW, lineno, arg))
                    return perr(L, lineno, "out of memory");
            } else if (is_directive(line, "recap", &arg)) {
                if (in_recap)
                    return perr(L, lineno, "a lesson has one @recap");
                if (*arg)
                    return perr(L, lineno,
                                "@recap takes nothing; the recap follows on the next lines");
                if (L->n && L->items[L->n - 1].kind != IT_PAUSE &&
                    !lesson_add(L, IT_PAUSE, lineno, NULL))
                    return perr(L, lineno, "out of memory");
                if (!lesson_add(L, IT_RECAP, lineno, NULL))
                    return perr(L, lineno, "out of memory");
                in_recap = true;
            } else if (is_directive(line, "try", &arg)) {
                if (!in_recap)
                    return perr(L, lineno, "@try lines belong after @recap");
                if (!*arg)
                    return perr(L, lineno, "@try needs a line of code");
                if (!lesson_add(L, IT_TRY, lineno, arg))
                    return perr(L, lineno, "out of memory");
            } else {
                return perr(L, lineno, "unknown directive (see lessons/README.md)");
            }
            continue;
        }
        /* narration */
        if (cont) {
            if (!str_append_line(cont, t))
                return perr(L, lineno, "out of memory");
            continue;
        }
        pred = NULL;
        body = true;
        if (L->n && L->items[L->n - 1].kind == IT_TRY)
            return perr(L, lineno, "narration after @try: the @try lines end the lesson");
        if (!para) {
            para = lesson_add(L, IT_TEXT, lineno, line);
            if (!para)
                return perr(L, lineno, "out of memory");
        } else if (!str_append_line(&para->text, line)) {
            return perr(L, lineno, "out of memory");
        }
    }
    free(buf);
    buf = NULL;

    /* screens: a new one starts after every pause and every prediction */
    L->screen = malloc((size_t)(L->n + 1) * sizeof *L->screen);
    if (!L->screen)
        return perr(L, lineno, "out of memory");
    L->nscreens = 0;
    L->screen[L->nscreens++] = 0;
    for (int i = 0; i < L->n; i++)
        if ((L->items[i].kind == IT_PAUSE || L->items[i].kind == IT_PREDICT) && i + 1 < L->n)
            L->screen[L->nscreens++] = i + 1;
    return rc;
#undef buf
#undef cap
}

lesson *bs__lesson_load(const char *path, char *err, size_t errlen)
{
    lesson *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(L->path, sizeof L->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        bs__lesson_free(L);
        return NULL;
    }
    int rc = lesson_parse(L, f);
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "%s", L->err);
        bs__lesson_free(L);
        return NULL;
    }
    return L;
}

/* ==== Finding lessons ==== */


/* $BACKSTEP_LESSON_DIR, else the source tree's lessons/ (BS_LESSON_DIR), else the installed copy
 * (BS_LESSON_INSTALL_DIR, when the build defines one) if the source tree is gone. */
const char *bs_lesson_dir(void)
{
    const char *d = getenv("BACKSTEP_LESSON_DIR");
    if (d && *d)
        return d;
#ifdef BS_LESSON_INSTALL_DIR
    struct stat st;
    if (stat(BS_LESSON_DIR, &st) != 0 || !S_ISDIR(st.st_mode))
        return BS_LESSON_INSTALL_DIR;
#endif
    return BS_LESSON_DIR;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const lesson_entry *)a)->stem, ((const lesson_entry *)b)->stem);
}

/* All NN-NAME.lesson files, sorted. Returns the count (entries in *out, caller frees), -1 if the
 * directory cannot be read. */
int bs__lesson_scan(lesson_entry **out)
{
    const char *dir = bs_lesson_dir();
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d)
        return -1;
    int n = 0, cap = 0;
    lesson_entry *v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 7 || strcmp(de->d_name + len - 7, ".lesson") != 0 || de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            lesson_entry *p = realloc(v, (size_t)cap * sizeof *p);
            if (!p)
                break;
            v = p;
        }
        lesson_entry *e = &v[n++];
        snprintf(e->path, sizeof e->path, "%s/%s", dir, de->d_name);
        snprintf(e->stem, sizeof e->stem, "%.*s", (int)(len - 7), de->d_name);
        const char *nm = e->stem;
        const char *q = nm;
        while (isdigit((unsigned char)*q))
            q++;
        if (q != nm && *q == '-' && q[1])
            nm = q + 1;
        snprintf(e->name, sizeof e->name, "%s", nm);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, entry_cmp);
    *out = v;
    return n;
}

/* The index of the lesson `name` refers to, -1 none, -2 ambiguous. */
int bs__lesson_find(const lesson_entry *v, int n, const char *name)
{
    char *end;
    long num = strtol(name, &end, 10);
    if (*name && !*end)
        return num >= 1 && num <= n ? (int)num - 1 : -1;
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0 || strcmp(v[i].stem, name) == 0)
            return i;
    int found = -1;
    size_t len = strlen(name);
    for (int i = 0; i < n; i++)
        if (len && strncmp(v[i].name, name, len) == 0) {
            if (found >= 0)
                return -2;
            found = i;
        }
    return found;
}

lesson *bs__lesson_open(const char *name, FILE *out)
{
    lesson_entry *v;
    int n = bs__lesson_scan(&v);
    if (n < 0) {
        fprintf(out, "lesson: cannot read the lesson directory %s: %s\n", bs_lesson_dir(),
                strerror(errno));
        return NULL;
    }
    int i = bs__lesson_find(v, n, name);
    if (i < 0) {
        fprintf(out, "lesson: %s lesson '%s' (:lesson lists them)\n",
                i == -2 ? "more than one name starts like" : "there is no", name);
        free(v);
        return NULL;
    }
    char err[1300];
    lesson *L = bs__lesson_load(v[i].path, err, sizeof err);
    if (!L) {
        fprintf(out, "lesson: %s\n", err);
        free(v);
        return NULL;
    }
    snprintf(L->stem, sizeof L->stem, "%s", v[i].stem);
    snprintf(L->name, sizeof L->name, "%s", v[i].name);
    L->number = i + 1;
    free(v);
    return L;
}

void bs_lesson_names(void (*add)(void *ud, const char *name), void *ud)
{
    lesson_entry *v;
    int n = bs__lesson_scan(&v);
    for (int i = 0; i < n; i++)
        add(ud, v[i].name);
    free(v);
}

/* ==== Progress (XDG state directory) ==== */

static bool state_file(char *buf, size_t len, bool create_dir)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    char dir[1024];
    if (xdg && xdg[0] == '/') {
        snprintf(dir, sizeof dir, "%s", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return false;
        snprintf(dir, sizeof dir, "%s/.local/state", home);
    }
    size_t dl = strlen(dir);
    if (dl + 40 >= sizeof dir)
        return false;
    strcat(dir, "/backstep");
    if (create_dir) {
        /* mkdir -p, each level private to the user as the XDG spec asks */
        for (char *p = dir + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0700);
                *p = '/';
            }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return false;
    }
    snprintf(buf, len, "%s/lessons.progress", dir);
    return true;
}


/* Read every record; returns the count (in *out, caller frees). */
int bs__progress_read(progress_rec **out)
{
    char path[1100];
    *out = NULL;
    if (!state_file(path, sizeof path, false))
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, cap = 0;
    progress_rec *v = NULL;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        progress_rec r = {0};
        char state[16] = "";
        if (line[0] == '#' ||
            sscanf(line, "%255s %d/%d %15s", r.name, &r.screen, &r.total, state) < 3)
            continue;
        r.done = strcmp(state, "done") == 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            progress_rec *p = realloc(v, (size_t)cap * sizeof *p);
            if (!p)
                break;
            v = p;
        }
        v[n++] = r;
    }
    fclose(f);
    *out = v;
    return n;
}

bool bs__progress_get(const char *name, progress_rec *r)
{
    progress_rec *v;
    int n = bs__progress_read(&v);
    bool found = false;
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) {
            *r = v[i];
            found = true;
        }
    free(v);
    return found;
}

/* Replace (or add) the record for r->name; written to a temporary file, then renamed. */
bool bs__progress_put(const progress_rec *r)
{
    char path[1100], tmp[1200];
    if (!state_file(path, sizeof path, true))
        return false;
    progress_rec *v;
    int n = bs__progress_read(&v);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(v);
        return false;
    }
    fprintf(f, "# backstep lesson progress: NAME SCREEN/SCREENS open|done\n");
    bool written = false;
    for (int i = 0; i < n; i++) {
        const progress_rec *p = &v[i];
        if (strcmp(p->name, r->name) == 0) {
            if (written)
                continue;
            p = r;
            written = true;
        }
        fprintf(f, "%s %d/%d %s\n", p->name, p->screen, p->total, p->done ? "done" : "open");
    }
    if (!written)
        fprintf(f, "%s %d/%d %s\n", r->name, r->screen, r->total, r->done ? "done" : "open");
    free(v);
    bool ok = fclose(f) == 0;
    if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok)
        remove(tmp);
    return ok;
}
