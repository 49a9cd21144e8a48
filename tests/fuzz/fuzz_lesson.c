/* tests/fuzz/fuzz_lesson.c: libFuzzer target for the lesson-file parser and the engine-free
 * lesson check (repl/lesson.c): each input is written as the only lesson of a private lesson
 * folder (01-fuzz.lesson) and as the lesson-progress file, then the lessons are listed
 * (titles, progress records) and linted (parse, structure, stated numbers, every screen drawn
 * to measure it against a terminal page), as `backstep --lint-lessons` does. */
#include "fuzz_util.h"

#include <sys/stat.h>

#include "lesson.h"

#define MAX_LEN 16384 /* the longest lesson is under 6 KiB */

static char g_lesson[4200], g_progress[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[4200];
    const char *tmp = fuzz_session_dirs(dir, sizeof dir);
    snprintf(g_lesson, sizeof g_lesson, "%s/01-fuzz.lesson", dir);
    snprintf(dir, sizeof dir, "%s/backstep", tmp);
    mkdir(dir, 0700);
    snprintf(g_progress, sizeof g_progress, "%s/lessons.progress", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_LEN)
        return -1;
    fuzz_write_file(g_lesson, data, size);
    fuzz_write_file(g_progress, data, size);
    FILE *out = fuzz_devnull();
    FUZZ_CHECK(bs_lesson_list(NULL, out) == 1);
    int failed = bs_lesson_lint_all(out);
    FUZZ_CHECK(failed == 0 || failed == 1);
    return 0;
}
