/* repl/lesson_int.h: the lesson runner's own types, shared by lesson_file.c (the .lesson format,
 * finding lessons, progress on disk) and lesson.c (drawing screens, running, listing, checking).
 * Both use only the public session API (repl.h, lesson.h). */
#ifndef BS_LESSON_INT_H
#define BS_LESSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lesson.h"

#ifndef BS_LESSON_DIR
#define BS_LESSON_DIR "lessons"
#endif

#define PAGE_LINES 24      /* a terminal page: the most lines one screen may take */
#define PAGE_COLS 80
#define TITLE_MAX 50       /* so the screen header fits one line */
#define PREDICT_TRIES 3    /* wrong answers before the answer is shown */

typedef enum {
    IT_TEXT,      /* a narration paragraph (raw lines joined by '\n') */
    IT_CODE,      /* code the runner types and runs (">>>" and "..." lines) */
    IT_PAUSE,     /* end of a screen: wait for Enter */
    IT_PREDICT,   /* end of a screen: the learner predicts a value */
    IT_CHECK,     /* a number stated in the text must equal what the engine computes */
    IT_GRAPH,     /* window action: open or refresh the graph window */
    IT_WINDOW,    /* window action: any command, run only when a window is open */
    IT_RECAP,     /* starts the final screen */
    IT_TRY        /* a line to try at the prompt after the lesson (shown, not run) */
} item_kind;

typedef struct {
    item_kind kind;
    int line;               /* 1-based line in the file */
    char *text;             /* TEXT, CODE, TRY: as written; PREDICT: the question; CHECK: the
                               expression; GRAPH: the name; WINDOW: the command */
    char *answer;           /* PREDICT: the expression whose value is the answer */
    char *hint, *explain;   /* PREDICT */
    char *fails;            /* CODE: it must fail with an error that mentions this */
    char numtext[64];       /* CHECK: the number as written */
    double num;             /* CHECK: its value */
    bool has_tol, tol_rel;  /* explicit "tol X" ("tol X%" is relative) */
    double tol;
} item;

typedef struct {
    char path[1024];
    char stem[256];         /* "03-by-hand" */
    char name[256];         /* "by-hand" */
    int number;             /* 1-based position in the directory */
    char *title;
    item *items;
    int n, cap;
    int *screen;            /* index of the first item of each screen */
    int nscreens;
    char err[1200];         /* parse error: "PATH:LINE: message" */
} lesson;

typedef struct {
    char path[1024];
    char stem[256];
    char name[256];
} lesson_entry;

typedef struct {
    char name[256];
    int screen, total;
    bool done;
} progress_rec;

/* lesson_file.c */
void bs__lesson_free(lesson *L);
lesson *bs__lesson_load(const char *path, char *err, size_t errlen);
int bs__lesson_scan(lesson_entry **out);
int bs__lesson_find(const lesson_entry *v, int n, const char *name);
lesson *bs__lesson_open(const char *name, FILE *out);
int bs__progress_read(progress_rec **out);
bool bs__progress_get(const char *name, progress_rec *r);
bool bs__progress_put(const progress_rec *r);
char *bs__lesson_trim(char *s);
double bs__lesson_stated_tol(const char *numtext, double v);

#endif
