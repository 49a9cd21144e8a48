/* repl/run.c */
