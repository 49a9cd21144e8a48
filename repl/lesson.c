/* repl/lesson.c */
