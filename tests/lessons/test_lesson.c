/* tests/lessons/test_lesson.c: the lesson runner against a mock session: parsing, lint, the
 * unattended check, predictions (wrong answer -> hint, right answer -> explanation), leaving,
 * resuming at the saved screen, going back, progress in the XDG state directory; and the static
 * lint of the real lessons (argv[1]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lesson.h"

extern char mock_log[1 << 16];
void mock_add_nodes(bs_session *s, int n);

static int failures;

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: expected %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* ==== Fixtures ==== */

static const char *DEMO =
    "# a comment line\n"
    "@title A demo lesson\n"
    "\n"
    "The value of a is 2, and b is three times that: 6.\n"
    "These two lines join\n"
    "into one paragraph.\n"
    "\n"
    ">>> a = 2\n"
    ">>> b = a * 3\n"
    ">>> b\n"
    "@check b == 6\n"
    "@pause\n"
    "Screen two asks a question.\n"
    "@predict What is b + 1?\n"
    "@answer b + 1\n"
    "@hint Add one to six.\n"
    "@explain b is 6, so b + 1 is 7.\n"
    "\n"
    "Screen three, after the answer: 7 it was.\n"
    "@check b + 1 == 7\n"
    ">>> c = b + 1\n"
    "@graph c\n"
    "@pause\n"
    "Final stretch: c is 7.0 too.\n"
    "@check c == 7.0\n"
    "@recap\n"
    "We added one.\n"
    "@try c * 2\n";

static const char *OTHER =
    "@title Another lesson\n"
    "Short. Two and two make 4.\n"
    ">>> x = 2 + 2\n"
    ">>> fail\n"
    "@fails ON PURPOSE\n"
    "@check x == 4\n"
    "@recap\n"
    "- one item\n"
    "- two items\n"
    "@try x\n";

static char root[512], lessons_dir[600], state_dir[600];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bs_session *new_session(void)
{
    bs_session_opts o = {.precision = 6};
    return bs_session_new(&o, stdout, stderr);
}

/* Run lesson `name` with the replies in `input`; the runner's screen text lands in *text. */
static int run_with(bs_session *s, const char *name, const char *input, char **text)
{
    static char *buf;
    static size_t len;
    free(buf);
    buf = NULL;
    FILE *out = open_memstream(&buf, &len);
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    int rc = bs_lesson_run(s, name, in, out);
    fclose(in);
    fclose(out);
    *text = buf;
    return rc;
}

static char *capture(int (*fn)(FILE *), int *rc)
{
    static char *buf;
    static size_t len;
    free(buf);
    buf = NULL;
    FILE *out = open_memstream(&buf, &len);
    *rc = fn(out);
    fclose(out);
    return buf;
}

static int list_fn(FILE *out) { return bs_lesson_list(NULL, out); }

/* ==== Tests ==== */

static void test_check_all(void)
{
    int rc;
    char *t = capture(bs_lesson_lint_all, &rc);
    EXPECT(rc == 0, "lint passes:\n%s", t);
    t = capture(bs_lesson_check_all, &rc);
    EXPECT(rc == 0, "check passes:\n%s", t);
    EXPECT(strstr(t, "2 passed, 0 failed"), "summary line in:\n%s", t);
    EXPECT(strstr(t, "5 screens, 3 checks, 1 predictions"), "demo counted in:\n%s", t);
}

static void test_interactive(void)
{
    char *t, progress[1200];
    snprintf(progress, sizeof progress, "%s/backstep/lessons.progress", state_dir);
    bs_session *s = new_session();

    /* screen 1: Enter; screen 2: a wrong answer, then the right one; screen 3: leave */
    int rc = run_with(s, "demo", "\n5\n7\nq\n", &t);
    EXPECT(rc == 1, "left -> 1, got %d", rc);
    EXPECT(strstr(t, "── Lesson 1 · A demo lesson · 1/5"), "header in:\n%s", t);
    EXPECT(strstr(t, ">>> b = a * 3"), "code shown as typed in:\n%s", t);
    EXPECT(strstr(t, "that: 6. These two lines join"), "paragraph joined in:\n%s", t);
    EXPECT(strstr(t, "Predict: What is b + 1?"), "question in:\n%s", t);
    const char *hint = strstr(t, "Not quite. Hint: Add one to six.");
    const char *right = strstr(t, "Right: the engine computes 7.");
    EXPECT(hint && right && hint < right, "hint, then right, in:\n%s", t);
    EXPECT(strstr(t, "b is 6, so b + 1 is 7."), "explanation in:\n%s", t);
    EXPECT(strstr(t, "(the window would show this graph now; `:graph c --ascii`"),
           "window action note in:\n%s", t);
    EXPECT(strstr(t, "Left at screen 3 of 5"), "leave message in:\n%s", t);
    EXPECT(!strstr(t, "lesson: "), "no check failures in:\n%s", t);
    char *p = read_file(progress);
    EXPECT(p && strstr(p, "demo 3/5 open"), "progress saved: %s", p ? p : "(none)");

    /* resume in a fresh session: screen 3 again, its check needs b from screen 1 (replayed) */
    bs_session_free(s);
    s = new_session();
    mock_log[0] = '\0';
    rc = run_with(s, "demo", "\n\n", &t);
    EXPECT(rc == 0, "finished -> 0, got %d\n%s", rc, t);
    EXPECT(strstr(t, "Resuming lesson 1 (demo) at screen 3 of 5"), "resume line in:\n%s", t);
    EXPECT(!strstr(t, "Screen two"), "earlier screens not shown again:\n%s", t);
    EXPECT(strstr(t, "Screen three"), "screen 3 shown:\n%s", t);
    EXPECT(strstr(mock_log, ":reset\na = 2\nb = a * 3\nb\n"), "replayed earlier code: %s",
           mock_log);
    EXPECT(!strstr(t, "lesson: "), "checks pass after the replay:\n%s", t);
    EXPECT(strstr(t, "Recap") && strstr(t, "  >>> c * 2"), "recap and try lines in:\n%s", t);
    EXPECT(strstr(t, "── end of lesson 1 (demo)"), "end line in:\n%s", t);
    p = read_file(progress);
    EXPECT(p && strstr(p, "demo 1/5 done"), "done saved: %s", p ? p : "(none)");

    int lrc;
    char *l = capture(list_fn, &lrc);
    EXPECT(lrc == 2, "two lessons listed, got %d", lrc);
    EXPECT(strstr(l, "demo") && strstr(l, "A demo lesson") && strstr(l, "done"), "list:\n%s", l);
    EXPECT(strstr(l, "Another lesson") && strstr(l, "new"), "list:\n%s", l);

    /* the runner's own nodes are not the learner's work: no question before the next lesson */
    rc = run_with(s, "2", "\n", &t);
    EXPECT(rc == 0 && !strstr(t, "clear your"), "by number, no question: %d\n%s", rc, t);
    EXPECT(strstr(t, "- one item\n- two items"), "list items kept on their lines:\n%s", t);
    EXPECT(strstr(t, ">>> fail\nerror: failed on purpose\n"), "expected error shown:\n%s", t);

    /* the learner's own work: asked first, and "n" keeps it */
    mock_add_nodes(s, 3);
    rc = run_with(s, "de", "n\n", &t);
    EXPECT(rc == 1 && strstr(t, "clear your") && !strstr(t, "Lesson 1"), "asked: %d\n%s", rc, t);
    rc = run_with(s, "nonesuch", "", &t);
    EXPECT(rc == -1 && strstr(t, "lesson: there is no lesson 'nonesuch'"), "unknown: %s", t);

    /* a finished lesson starts over; < goes back one screen (replaying); ? shows the hint;
       three wrong answers show the answer; :quit leaves with 2 */
    rc = run_with(s, "demo", "y\n<\n\n?\n1\n2\n3\n:quit\n", &t);
    EXPECT(rc == 2, "quit -> 2, got %d\n%s", rc, t);
    const char *first = strstr(t, "· 1/5");
    const char *again = first ? strstr(first + 1, "· 1/5") : NULL;
    EXPECT(first && again && !strstr(t, "Resuming"), "started over, then went back:\n%s", t);
    EXPECT(strstr(t, "Hint: Add one to six.") && strstr(t, "The answer: the engine computes 7."),
           "hint and shown answer:\n%s", t);
    p = read_file(progress);
    EXPECT(p && strstr(p, "demo 3/5 done"), "done, left at 3: %s", p ? p : "(none)");
    l = capture(list_fn, &lrc);
    EXPECT(strstr(l, "done, at 3/5"), "list:\n%s", l);
    bs_session_free(s);
}

static void test_bad_lessons(void)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/bad", root);
    mkdir(dir, 0700);
    /* a wrong number, a number the text never states, a failing line, a long screen */
    char longtext[4096] = "@title Broken on purpose\nThe answer is 5.\n>>> a = 2\n@check a == 5\n"
                          "@check a == 2\n>>> fail\n>>> a\n@fails nothing\n@pause\n";
    for (int i = 0; i < 30; i++)
        strcat(longtext, "  a verbatim line that stays a line\n");
    strcat(longtext, "@recap\nDone.\n@try a\n");
    write_file(dir, "01-broken.lesson", longtext);
    write_file(dir, "02-noparse.lesson", "@title x\n@frobnicate\n");
    write_file(dir, "03-norecap.lesson", "@title No recap\n@predict Q?\n@answer 1\nText.\n");
    setenv("BACKSTEP_LESSON_DIR", dir, 1);
    int rc;
    char *t = capture(bs_lesson_check_all, &rc);
    EXPECT(rc == 3, "3 failures, got %d:\n%s", rc, t);
    EXPECT(strstr(t, "0 passed, 3 failed"), "summary:\n%s", t);
    EXPECT(strstr(t, "check a == 5: the engine computes 2"), "wrong number:\n%s", t);
    EXPECT(strstr(t, "check a == 2: the text never states 2"), "unstated number:\n%s", t);
    EXPECT(strstr(t, "01-broken.lesson:6: code failed: failed on purpose"), "failing code:\n%s", t);
    EXPECT(strstr(t, "01-broken.lesson:7: this line should fail (with \"nothing\") but it ran"),
           "@fails on a line that runs:\n%s", t);
    EXPECT(strstr(t, "screen 2 takes 32 lines; a page is 24"), "long screen:\n%s", t);
    EXPECT(strstr(t, "02-noparse.lesson:2: unknown directive"), "parse error:\n%s", t);
    EXPECT(strstr(t, "prediction without @hint") && strstr(t, "no @recap"), "structure:\n%s", t);
    t = capture(bs_lesson_lint_all, &rc);
    EXPECT(rc == 3 && !strstr(t, "the engine computes"), "lint runs nothing:\n%s", t);
    setenv("BACKSTEP_LESSON_DIR", lessons_dir, 1);
}

static void test_real_lessons(const char *dir)
{
    setenv("BACKSTEP_LESSON_DIR", dir, 1);
    int rc;
    char *t = capture(bs_lesson_lint_all, &rc);
    EXPECT(rc == 0, "the real lessons lint clean:\n%s", t);
    int n = 0;
    for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, "ok", 2) == 0)
            n++;
    EXPECT(n >= 14, "at least 14 lessons, found %d:\n%s", n, t);
    printf("%s", t);
    setenv("BACKSTEP_LESSON_DIR", lessons_dir, 1);
}

int main(int argc, char **argv)
{
    snprintf(root, sizeof root, "/tmp/bs-lesson-test-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(lessons_dir, sizeof lessons_dir, "%s/lessons", root);
    snprintf(state_dir, sizeof state_dir, "%s/state", root);
    mkdir(lessons_dir, 0700);
    write_file(lessons_dir, "01-demo.lesson", DEMO);
    write_file(lessons_dir, "02-other.lesson", OTHER);
    write_file(lessons_dir, "README.md", "not a lesson\n");
    setenv("BACKSTEP_LESSON_DIR", lessons_dir, 1);
    setenv("XDG_STATE_HOME", state_dir, 1);

    test_check_all();
    test_interactive();
    test_bad_lessons();
    if (argc > 1)
        test_real_lessons(argv[1]);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    if (failures)
        fprintf(stderr, "%d expectation(s) failed\n", failures);
    return failures ? 1 : 0;
}
